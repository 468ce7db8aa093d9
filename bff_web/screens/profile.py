"""The web profile, personal data masked for display (the same masking as mobile)."""

from __future__ import annotations

from bff_web.deps import WebDeps
from bff_web.schemas import Address, Profile
from shared import Deadline, NotFound, stale_data
from upstreams.accounts.masking import masked_contact


async def profile(deps: WebDeps, user_id: int, deadline: Deadline) -> Profile:
    user = await deps.accounts.user(user_id, deadline=deadline)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    contact = masked_contact(user)
    return Profile(
        id=user.id,
        name=user.name,
        email=contact.email,
        phone=contact.phone,
        address=Address(
            street=contact.street,
            postal_code=contact.postal_code,
            city=user.address.city,
            country=user.address.country,
        ),
        home_region=user.home_region,
        member_since=user.member_since,
        stale=stale_data(),
    )
