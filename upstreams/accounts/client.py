"""Operations of the accounts service and the typed client screens use."""

from __future__ import annotations

from shared import CallExample, Deadline, Operation, UpstreamClient, UpstreamRejected
from upstreams.accounts.models import User

GET_USER = Operation(
    upstream="accounts",
    name="get_user",
    method="GET",
    path="/users/{user_id}",
    response=User,
    idempotent=True,
    example=CallExample(path_params={"user_id": 7}),
)


class AccountsClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def user(self, user_id: int, *, deadline: Deadline) -> User | None:
        """The user's profile, or ``None`` if accounts does not know the id."""
        try:
            return await self._upstream.call(GET_USER, path_params={"user_id": user_id}, deadline=deadline)
        except UpstreamRejected as exc:
            if exc.upstream_status == 404:
                return None
            raise
