from typing import get_args

from starlette.requests import Request
from starlette.responses import Response

from bff_mobile.deps import deps_of
from bff_mobile.routes.params import REGION
from bff_mobile.schemas import ProductScreen
from bff_mobile.screens.product import product_screen
from bff_mobile.settings import StockRegion
from shared import BadRequest, Endpoint, Param, json_with_etag
from shared.inputs import PATH_INT_MAX, path_int

_REGIONS = get_args(StockRegion)


async def get_product(request: Request) -> Response:
    deps = deps_of(request)
    product_id = path_int(request, "product_id")
    region = request.query_params.get("region") or deps.settings.default_stock_region
    if region not in _REGIONS:
        raise BadRequest(f"query parameter 'region' must be one of {list(_REGIONS)}, got {region!r}", field="region")
    screen = await product_screen(deps, product_id, region, deps.deadline())
    return json_with_etag(request, screen)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/products/{product_id}",
        get_product,
        summary="Product screen: product, stock in the caller's region, related products",
        response=ProductScreen,
        operation_id="getProduct",
        params=[
            Param(
                "product_id", "path", {"type": "integer", "minimum": 1, "maximum": PATH_INT_MAX}, "Catalog product id"
            ),
            REGION,
        ],
        errors=[404, 502, 503, 504],
        access="anyone",
        screen_cache=True,
        tags=["screens"],
    )
]
