"""The profile screen, with personal data masked for display.

The birth date is not sent at all: the app has no screen that needs it.
"""

from __future__ import annotations

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import MaskedAddress, Me
from shared import Deadline, NotFound, mask_email, mask_phone, mask_text, stale_data


async def me_screen(deps: MobileDeps, user_id: int, deadline: Deadline) -> Me:
    user = await deps.accounts.user(user_id, deadline=deadline)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return Me(
        id=user.id,
        name=user.name,
        email=mask_email(user.email),
        phone=mask_phone(user.phone),
        address=MaskedAddress(
            street=mask_text(user.address.street),
            postal_code=mask_text(user.address.postal_code, keep=2),
            city=user.address.city,
            country=user.address.country,
        ),
        home_region=user.home_region,
        member_since=user.member_since,
        stale=stale_data(),
    )
