"""The stand-in identity provider: the JWKS that verifies dev tokens, and a development
OAuth 2.0 authorization-code flow with PKCE (RFC 7636) for browser sessions.

``GET /authorize`` signs nobody in: it approves the user named by ``login_hint`` at once
(a development provider has no login page) and redirects back with a one-time code.
``POST /token`` exchanges that code, with the PKCE verifier, for an access token signed
with the dev key. Codes live 60 s, are used once, and are shared by both regions."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from upstreams._standin import create_standin_app, error_response, json_response
from upstreams.identity.keys import DEV_KEY_ID, dev_private_key, mint, public_jwk
from upstreams.identity.pkce import pkce_challenge

CODE_LIFETIME = 60
TOKEN_LIFETIME = 3600
MAX_USER_ID = 999_999_999


@dataclass(frozen=True, slots=True)
class _Grant:
    user_id: int
    client_id: str
    redirect_uri: str
    code_challenge: str
    expires_at: float


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    jwks = {"keys": [public_jwk(dev_private_key(), DEV_KEY_ID)]}
    grants: dict[str, _Grant] = {}

    async def keys(request: Request) -> Response:
        return json_response(jwks)

    async def authorize(request: Request) -> Response:
        query = request.query_params
        missing = [k for k in ("client_id", "redirect_uri", "state", "code_challenge") if not query.get(k)]
        if missing or query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            detail = f"missing {missing}" if missing else "need response_type=code and code_challenge_method=S256"
            return error_response(400, "invalid_request", detail)
        hint = query.get("login_hint", "")
        if not (hint.isascii() and hint.isdigit() and 0 < int(hint) <= MAX_USER_ID):
            return error_response(400, "login_required", "the dev provider signs in the user id given as login_hint")
        _expire(grants)
        code = secrets.token_urlsafe(24)
        grants[code] = _Grant(
            int(hint), query["client_id"], query["redirect_uri"], query["code_challenge"], time.time() + CODE_LIFETIME
        )
        answer = urlencode({"code": code, "state": query["state"]})
        separator = "&" if "?" in query["redirect_uri"] else "?"
        return RedirectResponse(query["redirect_uri"] + separator + answer, status_code=302)

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("latin-1")).items()}
        if form.get("grant_type") != "authorization_code":
            return error_response(400, "unsupported_grant_type", "only authorization_code is supported")
        grant = grants.pop(form.get("code", ""), None)  # one use, even when it fails
        if (
            grant is None
            or grant.expires_at < time.time()
            or grant.client_id != form.get("client_id")
            or grant.redirect_uri != form.get("redirect_uri")
            or not secrets.compare_digest(grant.code_challenge, pkce_challenge(form.get("code_verifier", "")))
        ):
            return error_response(400, "invalid_grant", "unknown, expired or mismatched code")
        access_token = mint(grant.user_id, lifetime=TOKEN_LIFETIME)
        return json_response({"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME})

    routes = [
        Route("/.well-known/jwks.json", keys, methods=["GET"]),
        Route("/authorize", authorize, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
    ]
    return {region: create_standin_app("identity", region, routes) for region in regions}


def _expire(grants: dict[str, _Grant]) -> None:
    now = time.time()
    for code in [code for code, grant in grants.items() if grant.expires_at < now]:
        del grants[code]
