from starlette.requests import Request
from starlette.responses import Response

from bff_mobile.deps import deps_of
from bff_mobile.schemas import Home
from bff_mobile.screens.home import home_screen
from shared import Endpoint, json_with_etag
from shared.identity import caller_id


async def get_home(request: Request) -> Response:
    deps = deps_of(request)
    screen = await home_screen(deps, caller_id(request), deps.deadline())
    return json_with_etag(request, screen)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/home",
        get_home,
        summary="Home screen: greeting, last orders, recommended products",
        response=Home,
        operation_id="getHome",
        errors=[404, 502, 503, 504],
        screen_cache=True,
        tags=["screens"],
    )
]
