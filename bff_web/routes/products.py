from typing import get_args

from starlette.requests import Request
from starlette.responses import Response

from bff_web.deps import deps_of
from bff_web.schemas import ProductPage
from bff_web.screens.product import product_page
from bff_web.settings import StockRegion
from shared import BadRequest, Endpoint, Param, json_with_etag
from shared.inputs import PATH_INT_MAX, path_int

REGIONS = get_args(StockRegion)


def stock_region(value: str | None, default: str) -> str:
    region = value or default
    if region not in REGIONS:
        raise BadRequest(f"'region' must be one of {list(REGIONS)}, got {region!r}", field="region")
    return region


async def get_product(request: Request) -> Response:
    deps = deps_of(request)
    product_id = path_int(request, "product_id")
    region = stock_region(request.query_params.get("region"), deps.settings.default_stock_region)
    return json_with_etag(request, await product_page(deps, product_id, region, deps.deadline()))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/products/{product_id}",
        get_product,
        summary="Product page: the product, its stock in the region, related products with stock",
        response=ProductPage,
        operation_id="getProduct",
        params=[
            Param(
                "product_id", "path", {"type": "integer", "minimum": 1, "maximum": PATH_INT_MAX}, "Catalog product id"
            ),
            Param("region", "query", {"type": "string", "enum": list(REGIONS)}, "Stock region", allow_empty=True),
        ],
        errors=[404, 502, 503, 504],
        access="anyone",
        screen_cache=True,
        tags=["products"],
    )
]
