"""A runnable stand-in of the accounts service (user profiles, which hold PII)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import StandinError, create_standin_app, json_response, path_int
from upstreams.accounts import data

__all__ = ["create_standins"]


async def get_user(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    if not data.user_exists(user_id):
        raise StandinError(404, "user_not_found", f"no user {user_id}; users are 1..{data.USER_COUNT}")
    return json_response(data.user(user_id))


ROUTES = [Route("/users/{user_id}", get_user, methods=["GET"])]


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    """One accounts stand-in app per region; the users are the same in all of them."""
    return {region: create_standin_app("accounts", region, ROUTES) for region in regions}
