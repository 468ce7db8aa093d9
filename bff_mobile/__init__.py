"""bff_mobile: the mobile app's backend-for-frontend. REST only, compact payloads,
one round trip per screen."""
