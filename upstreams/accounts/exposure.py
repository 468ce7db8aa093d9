"""How each client view shows the accounts service's personal data (the masking of
``masked_contact`` and the profile fields), declared once for the PII inventory."""

from __future__ import annotations

from shared.pii import Exposure

OPERATION = "accounts.get_user"


def profile_exposures(where: str, prefix: str = "") -> list[Exposure]:
    """A profile view built from ``masked_contact``: what it shows of each PII field."""
    return [
        Exposure(where, f"{prefix}name", OPERATION, "name", "full (the user's own profile)"),
        Exposure(where, f"{prefix}email", OPERATION, "email", "masked (a***@domain)"),
        Exposure(where, f"{prefix}phone", OPERATION, "phone", "masked (last two digits)"),
        Exposure(where, f"{prefix}address.street", OPERATION, "address.street", "masked (first letter)"),
        Exposure(
            where, f"{prefix}address.postal_code", OPERATION, "address.postal_code", "masked (first two characters)"
        ),
    ]
