"""The stand-in identity provider: serves the JWKS that verifies dev tokens."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import create_standin_app, json_response
from upstreams.identity.keys import DEV_KEY_ID, dev_private_key, public_jwk


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    jwks = {"keys": [public_jwk(dev_private_key(), DEV_KEY_ID)]}

    async def keys(request: Request) -> Response:
        return json_response(jwks)

    routes = [Route("/.well-known/jwks.json", keys, methods=["GET"])]
    return {region: create_standin_app("identity", region, routes) for region in regions}
