"""A hand-written, minimal ``GET /v1/home``: the practical ceiling for Python here.

It makes the same upstream calls as bff_mobile's home screen, in the same graph and
order, and answers the same JSON shape, but with nothing else: no validation models,
retries, breakers, deadlines, ETags or middleware. One shared aiohttp ``ClientSession``
for every upstream, orjson both ways, uvloop under aiohttp's own C HTTP parser::

    python bench/aiohttp_aggregator.py [PORT]      # or AGGREGATOR_PORT; default 8090

Fan-out (region eu-west-1 of the local stand-ins)::

    accounts /users/{uid} ──────────────────────────┐
    orders /users/{uid}/orders?limit=3 ─────────────┤
    recommendations /users/{uid}/recommendations ─► catalog /products?ids=…
                                                  └► inventory /stock?ids=…&region=eu
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import uvloop
from aiohttp import web

from upstreams.registry import registered_upstreams

DEFAULT_PORT = 8090
REGION = "eu-west-1"
HOME_ORDERS = 3
HOME_RECOMMENDATIONS = 10
STOCK_REGION = "eu"

Json = dict[str, Any]
SESSION = web.AppKey("session", aiohttp.ClientSession)
# Base URLs come from the project's registry so both sides call the very same servers.
UPSTREAM = {spec.name: spec.local_regions[REGION] for spec in registered_upstreams()}


class UpstreamFailed(Exception):
    """A non-200 answer; the status decides what the client sees."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise UpstreamFailed(response.status)
        return orjson.loads(body)


def money(cents: int, currency: str) -> Json:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return {"amount": f"{sign}{whole}.{part:02d}", "currency": currency}


async def recommended(session: aiohttp.ClientSession, uid: int) -> list[Json]:
    picks = await get_json(
        session, f"{UPSTREAM['recommendations']}/users/{uid}/recommendations?limit={HOME_RECOMMENDATIONS}"
    )
    ids = [pick["product_id"] for pick in picks["items"]]
    if not ids:
        return []
    joined = ",".join(map(str, ids))
    catalog, stock = await asyncio.gather(
        get_json(session, f"{UPSTREAM['catalog']}/products?ids={joined}"),
        get_json(session, f"{UPSTREAM['inventory']}/stock?ids={joined}&region={STOCK_REGION}"),
    )
    products = {product["id"]: product for product in catalog["items"]}
    available = {level["product_id"]: level["available"] for level in stock["items"]}
    return [
        {
            "id": pid,
            "name": products[pid]["name"],
            "price": money(products[pid]["price_cents"], products[pid]["currency"]),
            "image_url": products[pid]["image_url"],
            "in_stock": available[pid] > 0 if pid in available else None,
        }
        for pid in ids
        if pid in products
    ]


async def optional_recommended(session: aiohttp.ClientSession, uid: int) -> list[Json] | None:
    # bff_mobile treats recommendations as optional; None marks the section degraded.
    try:
        return await recommended(session, uid)
    except (UpstreamFailed, aiohttp.ClientError):
        return None


async def home(request: web.Request) -> web.Response:
    raw_uid = request.headers.get("X-User-Id", "")
    if not raw_uid.isdigit():
        return web.Response(status=401)
    uid = int(raw_uid)
    session = request.app[SESSION]
    try:
        user, orders, picks = await asyncio.gather(
            get_json(session, f"{UPSTREAM['accounts']}/users/{uid}"),
            get_json(session, f"{UPSTREAM['orders']}/users/{uid}/orders?limit={HOME_ORDERS}"),
            optional_recommended(session, uid),
        )
    except UpstreamFailed as exc:
        return web.Response(status=404 if exc.status == 404 else 502)
    screen = {
        "greeting": "Hi " + user["name"].split(" ", 1)[0],
        "orders": [
            {
                "id": order["id"],
                "status": order["status"],
                "placed_at": order["placed_at"],
                "total": money(order["total_cents"], order["currency"]),
                "item_count": order["item_count"],
            }
            for order in orders["items"]
        ],
        "recommended": picks or [],
        "degraded": [] if picks is not None else ["recommendations"],
        # bff_mobile names cached data it served stale; this server has no cache.
        "stale": [],
    }
    return web.Response(body=orjson.dumps(screen), content_type="application/json")


async def client_session(app: web.Application) -> AsyncIterator[None]:
    # Pool sized like bff_mobile's default (http.max_connections: 512).
    connector = aiohttp.TCPConnector(limit=512, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        app[SESSION] = session
        yield


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(client_session)
    app.router.add_get("/v1/home", home)
    return app


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else int(os.environ.get("AGGREGATOR_PORT", DEFAULT_PORT))
    # uvloop, as uvicorn uses for bff_mobile, so the event loop is not a difference.
    web.run_app(create_app(), host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main(sys.argv)
