"""Faults of the stand-in framework, through real servers: each kind does what it says."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator

import httpx
import pydantic
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import Faults, StandinCluster, create_standin_app, json_response
from upstreams._standin.chaos import SLOW_BODY_CHUNK_BYTES, FaultMiddleware
from upstreams._standin.faults import FaultSwitch
from upstreams._standin.stats import RequestStats

A, B = "region-a", "region-b"
ClientFor = Callable[[str, str], httpx.Client]
ITEM = {"id": 1, "name": "x" * 200}


async def get_item(request: Request) -> Response:
    return json_response(ITEM)


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


ROUTES = [Route("/items/{item_id}", get_item), Route("/echo", echo, methods=["POST"])]


def demo_standins() -> dict[str, Starlette]:
    return {region: create_standin_app("demo", region, ROUTES, rng=random.Random(7)) for region in (A, B)}


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"demo": demo_standins()}) as cluster:
        yield cluster


@pytest.fixture
def region_a(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("demo", A)


@pytest.fixture
def region_b(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("demo", B)


def set_faults(client: httpx.Client, **faults: object) -> None:
    client.put("/_faults", json=faults).raise_for_status()


def test_no_faults_answers_normally(region_a: httpx.Client) -> None:
    response = region_a.get("/items/1")

    assert response.status_code == 200
    assert response.json() == ITEM


def test_latency_delays_every_answer(region_a: httpx.Client) -> None:
    set_faults(region_a, latency_ms=150)

    started = time.perf_counter()
    response = region_a.get("/items/1")

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.14


def test_jitter_keeps_latency_as_the_least_delay(region_a: httpx.Client) -> None:
    set_faults(region_a, latency_ms=50, jitter_ms=50)

    started = time.perf_counter()
    region_a.get("/items/1").raise_for_status()

    assert time.perf_counter() - started >= 0.045


def test_error_rate_one_answers_error_status_with_retry_after(region_a: httpx.Client) -> None:
    set_faults(region_a, error_rate=1, error_status=429, retry_after_s=2)

    response = region_a.get("/items/1")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"] == "injected_fault"


def test_error_rate_default_status_is_503_without_retry_after(region_a: httpx.Client) -> None:
    set_faults(region_a, error_rate=1)

    response = region_a.get("/items/1")

    assert response.status_code == 503
    assert "retry-after" not in response.headers


def test_error_rate_fails_only_a_share_of_requests(region_a: httpx.Client) -> None:
    set_faults(region_a, error_rate=0.5)

    statuses = {region_a.get("/items/1").status_code for _ in range(30)}

    assert statuses == {200, 503}


def test_hang_never_answers_until_the_client_gives_up(region_a: httpx.Client) -> None:
    set_faults(region_a, hang=True)

    with pytest.raises(httpx.ReadTimeout):
        region_a.get("/items/1", timeout=0.2)


async def test_hang_answers_once_cleared(fresh: StandinCluster) -> None:
    cluster = fresh
    cluster.state("demo", A).faults.set(Faults(hang=True))
    async with httpx.AsyncClient(base_url=cluster.url("demo", A), timeout=5) as client:
        pending = asyncio.create_task(client.get("/items/1"))
        await asyncio.sleep(0.1)
        assert not pending.done()

        cluster.state("demo", A).faults.clear()
        response = await pending

    assert response.status_code == 200


async def test_hang_keeps_the_request_body_for_when_it_is_cleared(fresh: StandinCluster) -> None:
    cluster = fresh
    cluster.state("demo", A).faults.set(Faults(hang=True))
    async with httpx.AsyncClient(base_url=cluster.url("demo", A), timeout=5) as client:
        pending = asyncio.create_task(client.post("/echo", content=b"the body"))
        await asyncio.sleep(0.1)
        cluster.state("demo", A).faults.clear()
        response = await pending

    assert response.content == b"the body"


async def test_hang_ends_when_the_client_disconnects() -> None:
    # In-process: a client that has gone away makes the hanging request return, unanswered.
    switch = FaultSwitch(random.Random(0), Faults(hang=True))
    app_called = False

    async def app(scope: object, receive: object, send: object) -> None:
        nonlocal app_called
        app_called = True

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    sent: list[object] = []

    async def send(message: object) -> None:
        sent.append(message)

    middleware = FaultMiddleware(app, region=A, switch=switch, stats=RequestStats(A), routes=ROUTES)
    scope = {"type": "http", "method": "GET", "path": "/items/1", "root_path": "", "headers": []}

    await asyncio.wait_for(middleware(scope, receive, send), timeout=1)

    assert not app_called
    assert sent == []


def test_drop_closes_the_connection_mid_response(region_a: httpx.Client) -> None:
    set_faults(region_a, drop=True)

    with pytest.raises(httpx.RemoteProtocolError):
        region_a.get("/items/1")


def test_down_drops_every_connection(region_a: httpx.Client) -> None:
    set_faults(region_a, down=True)

    for path in ("/items/1", "/items/2", "/nowhere"):
        with pytest.raises(httpx.RemoteProtocolError):
            region_a.get(path)


def test_down_leaves_the_control_endpoints_working(region_a: httpx.Client) -> None:
    set_faults(region_a, down=True)

    assert region_a.get("/_health").status_code == 200
    assert region_a.delete("/_faults").status_code == 200
    assert region_a.get("/items/1").status_code == 200


def test_garbage_answers_200_with_a_body_that_is_not_json(region_a: httpx.Client) -> None:
    set_faults(region_a, garbage=True)

    response = region_a.get("/items/1")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_wrong_shape_answers_200_with_unexpected_json(region_a: httpx.Client) -> None:
    set_faults(region_a, wrong_shape=True)

    response = region_a.get("/items/1")

    assert response.status_code == 200
    assert response.json() == {"unexpected": True}


def test_slow_body_drips_the_body_in_small_chunks(region_a: httpx.Client) -> None:
    set_faults(region_a, slow_body_ms=10)

    started = time.perf_counter()
    with region_a.stream("GET", "/items/1") as response:
        chunks = list(response.iter_raw())
    elapsed = time.perf_counter() - started

    body = b"".join(chunks)
    expected_chunks = -(-len(body) // SLOW_BODY_CHUNK_BYTES)
    assert json.loads(body) == ITEM
    assert len(chunks) > 1
    assert elapsed >= 0.009 * expected_chunks


def test_faults_apply_to_one_region_only(region_a: httpx.Client, region_b: httpx.Client) -> None:
    set_faults(region_a, down=True)

    response = region_b.get("/items/1")

    assert response.status_code == 200
    assert response.headers["x-served-region"] == B


def test_faults_can_be_switched_directly_on_the_state(fresh: StandinCluster, region_a: httpx.Client) -> None:
    fresh.state("demo", A).faults.set(Faults(error_rate=1, error_status=500))

    assert region_a.get("/items/1").status_code == 500


@pytest.mark.parametrize("status", [500, 503, 599, 408, 429])
def test_faults_accept_failure_statuses(status: int) -> None:
    assert Faults(error_status=status).error_status == status


@pytest.mark.parametrize("status", [200, 404, 499, 600])
def test_faults_reject_statuses_that_are_not_failures(status: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="error_status"):
        Faults(error_status=status)


def test_faults_reject_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError, match="latency"):
        Faults.model_validate({"latency": 100})


def test_faults_are_inactive_by_default() -> None:
    assert not Faults().active
    assert Faults(hang=True).active
