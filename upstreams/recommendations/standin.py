"""A runnable stand-in of the recommendations service (products picked for a user)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import create_standin_app, json_response, path_int, query_int
from upstreams.recommendations import data

__all__ = ["create_standins"]


async def get_recommendations(request: Request) -> Response:
    # Recommendations do not own users: any id gets a (seeded) list, as for a new visitor.
    user_id = path_int(request, "user_id")
    limit = query_int(request, "limit", default=10, minimum=1, maximum=data.MAX_RECOMMENDATIONS)
    return json_response({"items": list(data.recommendations(user_id)[:limit])})


ROUTES = [Route("/users/{user_id}/recommendations", get_recommendations, methods=["GET"])]


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    """One recommendations stand-in app per region, all answering the same."""
    return {region: create_standin_app("recommendations", region, ROUTES) for region in regions}
