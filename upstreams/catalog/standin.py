"""A runnable stand-in of the catalog service (products by id, batch, related, search)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import (
    StandinError,
    create_standin_app,
    json_response,
    path_int,
    query_ids,
    query_int,
)
from upstreams.catalog import data

__all__ = ["create_standins"]

MAX_BATCH_IDS = 100
MAX_PAGE = 50
MAX_QUERY_CHARS = 100


def _known_product_id(request: Request) -> int:
    product_id = path_int(request, "product_id")
    if not data.product_exists(product_id):
        raise StandinError(
            404,
            "product_not_found",
            f"no product {product_id}; products are 1..{data.PRODUCT_COUNT}",
        )
    return product_id


async def get_product(request: Request) -> Response:
    return json_response(data.product(_known_product_id(request)))


async def get_products(request: Request) -> Response:
    ids = query_ids(request, max_count=MAX_BATCH_IDS)
    items = [data.product(i) for i in ids if data.product_exists(i)]
    return json_response({"items": items})


async def get_related(request: Request) -> Response:
    product_id = _known_product_id(request)
    limit = query_int(request, "limit", default=5, minimum=1, maximum=MAX_PAGE)
    related = data.related_product_ids(product_id)[:limit]
    return json_response({"items": [data.product(i) for i in related]})


async def search(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()
    if not 1 <= len(query) <= MAX_QUERY_CHARS:
        raise StandinError(400, "invalid_q", f"q must be 1 to {MAX_QUERY_CHARS} characters, got {query!r}")
    limit = query_int(request, "limit", default=20, minimum=1, maximum=MAX_PAGE)
    offset = query_int(request, "offset", default=0, minimum=0, maximum=data.PRODUCT_COUNT)
    matches = data.search_product_ids(query)
    page = matches[offset : offset + limit]
    return json_response({"items": [data.product(i) for i in page], "total": len(matches)})


ROUTES = [
    Route("/products", get_products, methods=["GET"]),
    Route("/products/{product_id}", get_product, methods=["GET"]),
    Route("/products/{product_id}/related", get_related, methods=["GET"]),
    Route("/search", search, methods=["GET"]),
]


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    """One catalog stand-in app per region; the catalog is the same in all of them."""
    return {region: create_standin_app("catalog", region, ROUTES) for region in regions}
