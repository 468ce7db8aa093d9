from starlette.requests import Request
from starlette.responses import Response

from bff_mobile.deps import deps_of
from bff_mobile.schemas import Me
from bff_mobile.screens.me import me_screen
from shared import Endpoint, json_with_etag
from shared.identity import caller_id


async def get_me(request: Request) -> Response:
    deps = deps_of(request)
    screen = await me_screen(deps, caller_id(request), deps.deadline())
    return json_with_etag(request, screen)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/me",
        get_me,
        summary="The caller's profile, personal data masked for display",
        response=Me,
        operation_id="getMe",
        errors=[404, 502, 503, 504],
        tags=["profile"],
    )
]
