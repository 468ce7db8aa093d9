from starlette.requests import Request
from starlette.responses import Response

from bff_web.deps import deps_of
from bff_web.schemas import Profile
from bff_web.screens.profile import profile
from shared import Endpoint, json_with_etag
from shared.identity import caller_id


async def get_me(request: Request) -> Response:
    deps = deps_of(request)
    return json_with_etag(request, await profile(deps, caller_id(request), deps.deadline()))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/me",
        get_me,
        summary="The caller's profile, personal data masked for display",
        response=Profile,
        operation_id="getMe",
        errors=[404, 502, 503, 504],
        tags=["profile"],
    )
]
