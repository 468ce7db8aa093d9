"""The identity provider as an upstream: its JWKS, fetched through the same pipeline
(regions, breakers, retries) as every other upstream call."""

from __future__ import annotations

from typing import Any

from shared import CallExample, Deadline, Operation, UpstreamClient
from upstreams.identity.models import Jwks

GET_JWKS = Operation(
    upstream="identity",
    name="get_jwks",
    method="GET",
    path="/.well-known/jwks.json",
    response=Jwks,
    idempotent=True,
    example=CallExample(),
)


class IdentityClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def jwks(self) -> dict[str, Any]:
        answer = await self._upstream.call(GET_JWKS, deadline=Deadline.after(2.0))
        return answer.model_dump()
