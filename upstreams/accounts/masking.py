"""A user's personal data masked for display, from the PII marks on ``User``.

Every client view that shows a profile takes these values, so masking is decided once.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import mask_email, mask_phone, mask_text
from upstreams.accounts.models import User


@dataclass(frozen=True, slots=True)
class MaskedContact:
    email: str
    phone: str
    street: str
    postal_code: str


def masked_contact(user: User) -> MaskedContact:
    return MaskedContact(
        email=mask_email(user.email),
        phone=mask_phone(user.phone),
        street=mask_text(user.address.street),
        postal_code=mask_text(user.address.postal_code, keep=2),
    )


__all__ = ["MaskedContact", "masked_contact"]
