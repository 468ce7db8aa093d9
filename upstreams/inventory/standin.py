"""A runnable stand-in of the inventory service (stock per product per stock region)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import create_standin_app, json_response, query_choice, query_ids
from upstreams.catalog.data import product_exists
from upstreams.inventory import data

__all__ = ["create_standins"]

MAX_BATCH_IDS = 100


async def get_stock(request: Request) -> Response:
    ids = query_ids(request, max_count=MAX_BATCH_IDS)
    stock_region = query_choice(request, "region", data.STOCK_REGIONS)
    items = [
        {
            "product_id": product_id,
            "region": stock_region,
            "available": data.available(product_id, stock_region),
        }
        for product_id in ids
        if product_exists(product_id)
    ]
    return json_response({"items": items})


ROUTES = [Route("/stock", get_stock, methods=["GET"])]


def create_standins(regions: Sequence[str]) -> dict[str, Starlette]:
    """One inventory stand-in app per region; stock levels are the same in all of them."""
    return {region: create_standin_app("inventory", region, ROUTES) for region in regions}
