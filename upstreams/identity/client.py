"""The identity provider as an upstream: its JWKS and its token endpoint, called through
the same pipeline (regions, breakers, retries) as every other upstream call."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from shared import CallExample, Deadline, Operation, UpstreamClient
from upstreams.identity.models import Jwks, TokenAnswer
from upstreams.identity.pkce import new_verifier, pkce_challenge

GET_JWKS = Operation(
    upstream="identity",
    name="get_jwks",
    method="GET",
    path="/.well-known/jwks.json",
    response=Jwks,
    idempotent=True,
    example=CallExample(),
)


async def _authorized_code(base_url: str) -> CallExample:
    """Run /authorize of the stand-in for user 7 and return the token exchange to make."""
    verifier = new_verifier()
    redirect_uri = "http://127.0.0.1/callback"
    query = {
        "response_type": "code",
        "client_id": "contract-test",
        "redirect_uri": redirect_uri,
        "state": "s",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "login_hint": "7",
    }
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{base_url}/authorize?{urlencode(query)}")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": "contract-test",
        "code_verifier": verifier,
    }
    return CallExample(form=form)


EXCHANGE_CODE = Operation(
    upstream="identity",
    name="exchange_code",
    method="POST",
    path="/token",
    response=TokenAnswer,
    idempotent=False,  # a code is good once: never retried, never sent to a second region
    example=CallExample(setup=_authorized_code),
)


class IdentityClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def jwks(self) -> dict[str, Any]:
        answer = await self._upstream.call(GET_JWKS, deadline=Deadline.after(2.0))
        return answer.model_dump()

    async def exchange_code(
        self, *, code: str, verifier: str, redirect_uri: str, client_id: str, deadline: Deadline
    ) -> TokenAnswer:
        """Trade an authorization code (and its PKCE verifier) for an access token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        }
        return await self._upstream.call(EXCHANGE_CODE, form=form, deadline=deadline)
