"""The profile screen, with personal data masked for display.

The birth date is not sent at all: the app has no screen that needs it.
"""

from __future__ import annotations

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import MaskedAddress, Me
from shared import Deadline, NotFound, stale_data
from upstreams.accounts.masking import masked_contact


async def me_screen(deps: MobileDeps, user_id: int, deadline: Deadline) -> Me:
    user = await deps.accounts.user(user_id, deadline=deadline)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    contact = masked_contact(user)
    return Me(
        id=user.id,
        name=user.name,
        email=contact.email,
        phone=contact.phone,
        address=MaskedAddress(
            street=contact.street,
            postal_code=contact.postal_code,
            city=user.address.city,
            country=user.address.country,
        ),
        home_region=user.home_region,
        member_since=user.member_since,
        stale=stale_data(),
    )
