"""bff_web: the web app's backend-for-frontend. REST for simple resources (richer
payloads than mobile), and GraphQL at /graphql for the screens that benefit (dashboard,
product page, search)."""
