"""The screen cache: a whole rendered screen kept while every section of it is fresh.

A small app stands in for a BFF process: the request-id layer (it opens the request's
report), an identity layer, the screen cache middleware, and endpoints declared with
``screen_cache=True`` whose sections go through a real ``UpstreamClient`` and
``ResponseCache`` (in-process, on a manual wall clock) to an in-process upstream.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from shared import (
    CachePolicy,
    CallPolicy,
    Deadline,
    Endpoint,
    FanOut,
    Operation,
    Param,
    Region,
    RetryPolicy,
    UpstreamClient,
    UpstreamConfig,
    json_with_etag,
)
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.local import LocalCache
from shared.cache.response_cache import ResponseCache
from shared.cache.screens import ScreenCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.endpoints import Handler, endpoint_routes
from shared.http.httpx_transport import HttpxTransport
from shared.identity import USER_KEY, caller_id
from shared.middleware.request_id import RequestIdMiddleware
from shared.middleware.screen_cache import ScreenCacheMiddleware
from shared.policy import BreakerPolicy
from shared.problems import EXCEPTION_HANDLERS
from shared.settings import CacheSettings
from shared.types import ASGIApp, Receive, Scope, Send
from tests.shared.resilience.clock import ManualClock
from tests.support import get_scope

RETRY_ONCE = RetryPolicy(attempts=1)


class Name(BaseModel):
    name: str


class Price(BaseModel):
    cents: int


GET_NAME = Operation(
    upstream="shop",
    name="get_name",
    method="GET",
    path="/names/{user_id}",
    response=Name,
    idempotent=True,
    policy=CallPolicy(retry=RETRY_ONCE, cache=CachePolicy(ttl=60, stale_ttl=600, scope="user")),
    tags=lambda path, _: [f"user:{path['user_id']}"],
)
GET_PRICE = Operation(
    upstream="shop",
    name="get_price",
    method="GET",
    path="/prices/{item}",
    response=Price,
    idempotent=True,
    policy=CallPolicy(retry=RETRY_ONCE, cache=CachePolicy(ttl=3, stale_ttl=60)),
    tags=lambda path, _: [f"price:{path['item']}"],
)
GET_LIVE_PRICE = Operation(
    upstream="shop",
    name="get_live_price",
    method="GET",
    path="/prices/{item}",
    response=Price,
    idempotent=True,
    policy=CallPolicy(retry=RETRY_ONCE, cache=CachePolicy(ttl=0)),
)


@dataclass
class Shop:
    """The in-process upstream: what it was asked, and what it answers."""

    asked: Counter[str]
    cents: int = 100
    failing: bool = False
    #: When set, ``/paused/{item}`` waits on it after reading its price (another section's wait).
    pause: asyncio.Event | None = None
    paused: asyncio.Event | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        kind, key = request.url.path.strip("/").split("/")
        self.asked[kind] += 1
        if self.failing:
            return httpx.Response(503)
        if kind == "names":
            return httpx.Response(200, json={"name": f"user {key}"})
        return httpx.Response(200, json={"cents": self.cents + int(key)})


class Identify:
    """Stands in for the auth layer: ``X-User-Id`` becomes the verified caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"x-user-id":
                scope[USER_KEY] = value.decode()
        await self.app(scope, receive, send)


class WithState:
    """What the lifespan's state gives every request: here, only the screen cache."""

    def __init__(self, app: ASGIApp, screens: ScreenCache) -> None:
        self.app = app
        self.screens = screens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = {"screens": self.screens}
        await self.app(scope, receive, send)


@dataclass
class Stack:
    http: httpx.AsyncClient
    shop: Shop
    wall: ManualClock
    cache: ResponseCache
    screens: ScreenCache


def build(max_bytes: int = 1 << 20) -> tuple[Starlette, Shop, ManualClock, ResponseCache, ScreenCache]:
    wall = ManualClock()
    shop = Shop(Counter())
    screens = ScreenCache(max_bytes, gzip_min_bytes=50, clock=wall)
    store = GuardedStore(MemoryStore(1000), op_timeout=1, breaker=BreakerPolicy())
    cache = ResponseCache(
        store,
        CacheKeys("t", b"k" * 32),
        Sealer.ephemeral(),
        CacheSettings(),
        local=LocalCache(1000, math.inf),
        screens=screens,
        store_entries=False,
        wall_clock=wall,
    )
    policies = {op.name: op.policy for op in (GET_NAME, GET_PRICE, GET_LIVE_PRICE) if op.policy is not None}
    config = UpstreamConfig((Region("a", "http://a"),), policies, CallPolicy(retry=RETRY_ONCE))
    client = UpstreamClient("shop", config, HttpxTransport(transport=httpx.MockTransport(shop.handle)), cache=cache)

    def deadline() -> Deadline:
        return Deadline.after(5)

    async def price(item: int, operation: Operation[Price] = GET_PRICE) -> int:
        return (await client.call(operation, path_params={"item": item}, deadline=deadline())).cents

    async def item_screen(request: Request) -> Response:
        user = caller_id(request)
        item = int(request.path_params["item"])
        name = await client.call(GET_NAME, path_params={"user_id": user}, cache_user=user, deadline=deadline())
        return json_with_etag(request, {"name": name.name, "price": await price(item), "pad": "x" * 200})

    async def shared_screen(request: Request) -> Response:
        return json_with_etag(request, {"price": await price(int(request.path_params["item"]))})

    async def greeting_screen(request: Request) -> Response:
        # Shared data only, but the answer names the caller: kept per caller.
        return json_with_etag(request, {"hello": caller_id(request), "price": await price(1)})

    async def paused_screen(request: Request) -> Response:
        cents = await price(int(request.path_params["item"]))
        if shop.pause is not None and shop.paused is not None:
            shop.paused.set()
            await shop.pause.wait()
        return json_with_etag(request, {"price": cents})

    async def live_screen(request: Request) -> Response:
        return json_with_etag(request, {"price": await price(1, GET_LIVE_PRICE)})

    async def optional_screen(request: Request) -> Response:
        async with FanOut(deadline()) as fan:
            section = fan.optional("price", price(int(request.path_params["item"])), default=None)
        return json_with_etag(request, {"price": section.value, "degraded": fan.degraded})

    def endpoint(path: str, handler: Handler, access: Literal["caller", "anyone"] = "caller") -> Endpoint:
        region = Param("region", "query", {"type": "string"}, "a declared query parameter")
        params = [region]
        if "{item}" in path:
            params.append(Param("item", "path", {"type": "integer", "minimum": 1}, "an item id"))
        return Endpoint("GET", path, handler, "", Name, path, params=params, access=access, screen_cache=True)

    routes = endpoint_routes(
        [
            endpoint("/items/{item}", item_screen),
            endpoint("/shared/{item}", shared_screen, access="anyone"),
            endpoint("/greeting", greeting_screen),
            endpoint("/live", live_screen, access="anyone"),
            endpoint("/paused/{item}", paused_screen, access="anyone"),
            endpoint("/optional/{item}", optional_screen, access="anyone"),
        ]
    )
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(WithState, screens=screens),
            Middleware(RequestIdMiddleware),
            Middleware(Identify),
            Middleware(ScreenCacheMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    return app, shop, wall, cache, screens


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    app, shop, wall, cache, screens = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff") as http:
        yield Stack(http, shop, wall, cache, screens)


def as_user(user: int) -> dict[str, str]:
    return {"X-User-Id": str(user)}


async def test_a_second_visit_is_answered_from_the_screen_cache_without_calling_upstream(stack: Stack) -> None:
    first = await stack.http.get("/items/1", headers=as_user(7))
    asked = dict(stack.shop.asked)
    second = await stack.http.get("/items/1", headers=as_user(7))
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["vary"] == "Accept-Encoding"
    assert stack.shop.asked == asked
    assert stack.screens.hits == 1


async def test_screens_made_of_per_user_entries_are_never_served_to_another_user(stack: Stack) -> None:
    await stack.http.get("/items/1", headers=as_user(7))
    other = await stack.http.get("/items/1", headers=as_user(8))
    again = await stack.http.get("/items/1", headers=as_user(7))
    assert other.json()["name"] == "user 8"
    assert again.json()["name"] == "user 7"
    assert stack.shop.asked["names"] == 2
    anonymous = await stack.http.get("/items/1")
    assert anonymous.status_code == 401  # a per-user screen is never the answer to nobody


async def test_a_screen_that_reads_the_callers_identity_is_kept_per_caller(stack: Stack) -> None:
    assert (await stack.http.get("/greeting", headers=as_user(7))).json()["hello"] == 7
    assert (await stack.http.get("/greeting", headers=as_user(8))).json()["hello"] == 8
    assert (await stack.http.get("/greeting", headers=as_user(7))).json()["hello"] == 7
    assert stack.screens.hits == 1


async def test_a_screen_of_shared_entries_is_kept_once_for_all_callers_signed_in_apart(stack: Stack) -> None:
    await stack.http.get("/shared/1", headers=as_user(7))
    await stack.http.get("/shared/1", headers=as_user(8))
    await stack.http.get("/shared/1")
    await stack.http.get("/shared/1")
    assert stack.screens.hits == 2  # user 8 shares user 7's; the second anonymous the first's
    assert stack.shop.asked["prices"] == 1
    assert len(stack.screens) == 2


async def test_a_screen_expires_with_its_shortest_lived_section(stack: Stack) -> None:
    await stack.http.get("/items/1", headers=as_user(7))  # name: 60 s, price: 3 s
    stack.wall.advance(2.9)
    await stack.http.get("/items/1", headers=as_user(7))
    assert stack.screens.hits == 1
    stack.shop.cents = 500
    stack.wall.advance(0.1)
    # The price is past its TTL: rendered again (served stale while it refreshes), not kept.
    await stack.http.get("/items/1", headers=as_user(7))
    assert stack.screens.hits == 1
    for _ in range(5):
        await asyncio.sleep(0)  # let the background refresh finish
    assert (await stack.http.get("/items/1", headers=as_user(7))).json()["price"] == 501
    assert stack.shop.asked == Counter({"names": 1, "prices": 2})  # only the expired section again
    await stack.http.get("/items/1", headers=as_user(7))
    assert stack.screens.hits == 2


async def test_invalidating_an_entity_drops_the_screens_made_of_it_and_no_other(stack: Stack) -> None:
    await stack.http.get("/shared/1")
    await stack.http.get("/shared/2")
    stack.shop.cents = 500
    await stack.cache.invalidate_entity("price:1")
    assert (await stack.http.get("/shared/1")).json()["price"] == 501
    assert (await stack.http.get("/shared/2")).json()["price"] == 102
    assert stack.screens.hits == 1


async def test_invalidating_an_operation_drops_its_screens(stack: Stack) -> None:
    await stack.http.get("/items/1", headers=as_user(7))
    await stack.cache.invalidate_operation("shop.get_name")
    await stack.http.get("/items/1", headers=as_user(7))
    assert stack.screens.hits == 0
    assert stack.shop.asked["names"] == 2


async def test_if_none_match_is_answered_304_from_the_screen_cache(stack: Stack) -> None:
    first = await stack.http.get("/items/1", headers=as_user(7))
    asked = dict(stack.shop.asked)
    revalidated = await stack.http.get("/items/1", headers={**as_user(7), "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == first.headers["etag"]
    assert stack.shop.asked == asked
    changed = await stack.http.get("/items/1", headers={**as_user(7), "If-None-Match": 'W/"other"'})
    assert changed.status_code == 200 and changed.content == first.content


async def test_a_degraded_screen_is_served_but_never_kept(stack: Stack) -> None:
    stack.shop.failing = True
    degraded = await stack.http.get("/optional/1")
    assert degraded.json() == {"price": None, "degraded": ["price"]}
    stack.shop.failing = False
    healthy = await stack.http.get("/optional/1")
    assert healthy.json() == {"price": 101, "degraded": []}
    assert stack.screens.hits == 0
    await stack.http.get("/optional/1")
    assert stack.screens.hits == 1


async def test_a_screen_with_a_stale_section_is_served_but_not_kept(stack: Stack) -> None:
    await stack.http.get("/shared/1")
    stack.wall.advance(3)
    stack.shop.failing = True  # the price is past its TTL and its upstream fails: stale-if-error
    assert (await stack.http.get("/shared/1")).json()["price"] == 101
    assert len(stack.screens) == 0
    await stack.http.get("/shared/1")
    assert stack.screens.hits == 0


async def test_a_section_the_cache_does_not_hold_keeps_the_screen_out(stack: Stack) -> None:
    await stack.http.get("/live")
    await stack.http.get("/live")
    assert stack.shop.asked["prices"] == 2
    assert len(stack.screens) == 0


async def test_a_client_that_asks_for_gzip_gets_the_kept_screen_compressed_once(stack: Stack) -> None:
    first = await stack.http.get("/items/1", headers=as_user(7))
    zipped = await stack.http.get("/items/1", headers={**as_user(7), "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == first.content  # httpx decompressed it
    screen = stack.screens.lookup("/items/1", b"", "7")
    assert screen is not None and screen.gzipped is not None
    assert gzip.decompress(screen.gzipped[1]) == first.content


async def test_the_byte_bound_evicts_the_least_recently_used_screens() -> None:
    app, shop, _, _, screens = build(max_bytes=2_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff") as http:
        for item in range(1, 6):
            await http.get(f"/shared/{item}")
        assert 0 < len(screens) < 5
        assert screens.bytes <= 2_000
        await http.get("/shared/5")  # the newest stays
        assert screens.hits == 1
        await http.get("/shared/1")  # the oldest went
        assert screens.hits == 1
        assert shop.asked["prices"] == 5  # every price entry is still fresh: only screens went


async def test_an_answer_with_a_header_about_the_request_is_not_kept(stack: Stack) -> None:
    from shared.request_context import ScreenRecord

    record = ScreenRecord()
    record.depends_on("t:k", [], stack.wall() + 10, per_user=False)
    headers = [(b"content-type", b"application/json"), (b"etag", b'W/"1"')]
    common = {"path": "/p", "query": b"", "user": None, "body": b"{}", "route": None}
    assert not stack.screens.keep(record, headers=[*headers, (b"set-cookie", b"s=1")], **common)  # type: ignore[arg-type]
    assert stack.screens.keep(record, headers=headers, **common)  # type: ignore[arg-type]


async def test_a_query_parameter_the_endpoint_does_not_declare_is_answered_but_never_kept(stack: Stack) -> None:
    for junk in range(5):
        assert (await stack.http.get(f"/shared/1?junk={junk}")).status_code == 200
    assert len(stack.screens) == 0
    await stack.http.get("/shared/1?region=eu")
    await stack.http.get("/shared/1?region=eu")
    assert stack.screens.hits == 1  # a declared one keys its own screen


async def test_a_declared_parameter_spelled_another_way_is_answered_but_never_kept(stack: Stack) -> None:
    # Each spelling would be a copy of one screen: a repeat, a stray '&', an encoded
    # letter, a leading zero in an integer path parameter.
    for url in ("/shared/1?region=eu&region=eu", "/shared/1?region=eu&", "/shared/1?region=%65u", "/shared/01"):
        assert (await stack.http.get(url)).status_code == 200
    assert len(stack.screens) == 0
    await stack.http.get("/shared/1?region=eu")
    await stack.http.get("/shared/1?region=eu")
    assert stack.screens.hits == 1


async def test_an_invalidation_while_a_screen_renders_keeps_that_render_out(stack: Stack) -> None:
    await stack.http.get("/shared/1")  # price:1 is in the cache
    stack.shop.pause, stack.shop.paused = asyncio.Event(), asyncio.Event()
    rendering = asyncio.ensure_future(stack.http.get("/paused/1"))
    await stack.shop.paused.wait()  # the render read the price and waits on another section
    stack.shop.cents = 500
    await stack.cache.invalidate_entity("price:1")
    stack.shop.pause.set()
    assert (await rendering).json()["price"] == 101  # read before the invalidation: served
    assert len(stack.screens) == 0  # but never kept, to be served after it
    assert (await stack.http.get("/paused/1")).json()["price"] == 501


def test_the_byte_bound_counts_gzip_variants_and_keys() -> None:
    from shared.request_context import ScreenRecord

    wall = ManualClock()
    screens = ScreenCache(4_000, gzip_min_bytes=50, clock=wall)
    record = ScreenRecord()
    record.depends_on("t:k", [], wall() + 10, per_user=False)
    headers = [(b"content-type", b"application/json"), (b"etag", b'W/"1"')]
    body = random.Random(0).randbytes(1_000)  # does not compress: the variant is as large as the body
    for item in range(3):
        assert screens.keep(record, path=f"/p/{item}", query=b"", user=None, body=body, headers=headers, route=None)
    for item in range(3):
        screen = screens.lookup(f"/p/{item}", b"", None)
        if screen is not None:
            screens.gzipped(screen)
        assert screens.bytes <= 4_000
    long_query = b"q=" + b"x" * 4_000
    assert not screens.keep(record, path="/p", query=long_query, user=None, body=b"{}", headers=headers, route=None)


def test_screens_off_keeps_nothing() -> None:
    screens = ScreenCache(0)
    assert not screens.enabled


async def test_a_kept_screen_is_answered_without_routing_rendering_or_a_task(stack: Stack) -> None:
    """Counted, never timed: the hit path below the screen cache middleware does no work."""
    import sys
    from types import FrameType

    await stack.http.get("/items/1", headers=as_user(7))
    app = stack.http._transport.app  # type: ignore[attr-defined]  # the ASGITransport's app
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = get_scope("/items/1", [(b"host", b"bff"), (b"x-user-id", b"7")])
    called: list[str] = []

    def count(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    loop = asyncio.get_running_loop()
    tasks_before = len(asyncio.all_tasks(loop))
    sys.setprofile(count)
    try:
        await app(scope, receive, send)
    finally:
        sys.setprofile(None)
    assert sent[0]["status"] == 200 and sent[1]["body"]
    assert len(asyncio.all_tasks(loop)) == tasks_before
    assert "item_screen" not in called and "call" not in called  # no handler, no upstream client
    assert "matches" not in called  # no routing
    # The test app's five layers (Starlette's two, state, request id, identity) and the hit.
    assert len(called) <= 18, called  # 17 when written
