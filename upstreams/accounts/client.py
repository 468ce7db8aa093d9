"""Operations of the accounts service and the typed client screens use."""

from __future__ import annotations

from shared import CachePolicy, CallExample, CallPolicy, Deadline, Operation, UpstreamClient, UpstreamRejected
from upstreams.accounts.models import User

GET_USER = Operation(
    upstream="accounts",
    name="get_user",
    method="GET",
    path="/users/{user_id}",
    response=User,
    idempotent=True,
    example=CallExample(path_params={"user_id": 7}),
    policy=CallPolicy(cache=CachePolicy(ttl=60, stale_ttl=600, scope="user")),
    tags=lambda path, query: [f"user:{path['user_id']}"],
)


class AccountsClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def user(self, user_id: int, *, deadline: Deadline) -> User | None:
        """The user's profile, or ``None`` if accounts does not know the id."""
        try:
            return await self._upstream.call(
                GET_USER, path_params={"user_id": user_id}, deadline=deadline, cache_user=user_id
            )
        except UpstreamRejected as exc:
            if exc.upstream_status == 404:
                return None
            raise
