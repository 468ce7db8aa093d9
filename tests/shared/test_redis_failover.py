"""Failover under load, on a Sentinel group and on a Cluster of the test's own: two
bff_mobile instances share it under a bounded load (4 clients on 127.0.0.1), the primary
owning the hot keys (on a Cluster, the shard of the invalidation channel too) is
SIGKILLed, and the catalog's answer changes during the blind spot.

What must hold: no client request fails; the cache is back (its breaker closed, Redis
answering) within a bound after the promotion; nothing older than the staleness window
(an entry's ttl + stale_ttl, docs/sre-guide.md "Redis") is served after the change; each
instance counts the event and dropped its in-process tier when it subscribed again.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from starlette.types import Receive, Scope, Send

from shared.cli.servers import ServerThread
from tests.support import ADMIN, RedisTopology, ServedUrl, Standins, mobile_settings, running_topology, serve_mobile
from upstreams.catalog import data
from upstreams.catalog.standin import create_standins

HOT = range(1, 7)
TTL, STALE_TTL = 2.0, 2.0
#: After the catalog's answer changes, an old one may be served this long at most.
STALENESS_WINDOW = TTL + STALE_TTL
#: How long the load runs after the kill, for the promotion and the cache to come back.
AFTER_KILL = 10.0


class VersionedCatalog:
    """The catalog stand-in, with product names that carry a version a test can bump."""

    def __init__(self) -> None:
        self.version = 1
        self._standin = create_standins(["test"])["test"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = re.fullmatch(r"/products/(\d+)", scope.get("path", ""))
        if scope["type"] != "http" or match is None:
            await self._standin(scope, receive, send)
            return
        product = {**data.product(int(match[1])), "name": f"v{self.version}"}
        body = orjson.dumps(product)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def versioned_catalog() -> Iterator[tuple[VersionedCatalog, str]]:
    catalog = VersionedCatalog()
    servers = ServerThread({"catalog": catalog})
    servers.start()
    try:
        yield catalog, servers.url("catalog")
    finally:
        servers.stop()


@dataclass
class Run:
    answers: list[tuple[float, int, str]] = field(default_factory=list)  # (sent at, status, name)
    killed_at: float = 0.0
    promoted_at: float | None = None
    changed_at: float = 0.0
    #: When each instance's count of failed store operations last grew.
    last_error_at: dict[str, float] = field(default_factory=dict)
    breaker_closed: dict[str, bool] = field(default_factory=dict)
    #: Whether each instance's cache breaker opened, and when it closed again for good.
    opened: dict[str, bool] = field(default_factory=dict)
    cache_back_at: dict[str, float] = field(default_factory=dict)


def new_primary(topology: RedisTopology, killed: int) -> bool:
    try:
        return topology.primary_port(f"{{{KEY_TAG}}}") != killed
    except redis.RedisError:
        return False


KEY_TAG = "x"  # set per run: the hash tag of the invalidation channel (a Cluster's killed shard)


async def load(bases: list[str], run: Run, until: float) -> None:
    async def client_loop(index: int, client: httpx.AsyncClient) -> None:
        turn = index
        while time.monotonic() < until:
            base = bases[turn % len(bases)]
            product = HOT[turn % len(HOT)]
            turn += 1
            sent = time.monotonic()
            try:
                answer = await client.get(f"{base}/v1/products/{product}")
                name = answer.json()["product"]["name"] if answer.status_code == 200 else ""
                run.answers.append((sent, answer.status_code, name))
            except httpx.HTTPError as exc:
                run.answers.append((sent, 0, type(exc).__name__))
            await asyncio.sleep(0.01)  # bounded: about 4 x 60 requests a second

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(client_loop(index, client) for index in range(4)))


async def cache_state(client: httpx.AsyncClient, base: ServedUrl) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get(f"{base.admin}/admin/cache", headers=ADMIN)).json()
    return state


async def watch(
    topology: RedisTopology, killed: int, bases: list[ServedUrl], catalog: VersionedCatalog, run: Run
) -> None:
    """Note the promotion, change the catalog's answer in the blind spot, note when each
    instance's cache is back (breaker closed, no new store errors for 0.5 s)."""
    async with httpx.AsyncClient(timeout=5) as client:
        await asyncio.sleep(0.2)
        catalog.version = 2  # the upstream's answer changes while Redis is failing over
        run.changed_at = time.monotonic()
        for base in bases:  # best effort: its Redis part may fail now, and that must not matter
            await client.post(f"{base.admin}/admin/cache/invalidate", json={"entity": "product:1"}, headers=ADMIN)
        errors: dict[str, int] = {}
        while time.monotonic() < run.killed_at + AFTER_KILL:
            if run.promoted_at is None and await asyncio.to_thread(new_primary, topology, killed):
                run.promoted_at = time.monotonic()
            for base in bases:
                state = await cache_state(client, base)
                now = time.monotonic()
                if state["errors"] != errors.get(base):
                    errors[base] = state["errors"]
                    run.last_error_at[base] = now
                closed = state["breaker"]["state"] == "closed"
                if not closed:
                    run.opened[base] = True
                    run.cache_back_at.pop(base, None)
                elif run.opened.get(base) and base not in run.cache_back_at:
                    run.cache_back_at[base] = now
                run.breaker_closed[base] = closed
            await asyncio.sleep(0.1)


def cache_config(topology: RedisTopology, prefix: str) -> dict[str, Any]:
    return {
        "redis": topology.cache,
        "prefix": prefix,
        "hmac_key": "failover-test",
        "encryption_keys": {"k1": base64.b64encode(b"2" * 32).decode()},
        "active_key_id": "k1",
    }


def channel_prefix(topology: RedisTopology) -> tuple[str, int]:
    """A key prefix whose invalidation channel lives on the shard to kill, and its port."""
    prefix = f"fo{uuid.uuid4().hex[:8]}"
    return prefix, topology.primary_port(f"{prefix}:invalidate")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentinel", "cluster"])
def test_a_primary_killed_under_load_fails_no_request_and_serves_nothing_staler_than_the_window(
    name: str, standins: Standins, tmp_path: Path, record_property: Any
) -> None:
    global KEY_TAG
    with running_topology(name, tmp_path, for_failover=True) as topology, versioned_catalog() as (catalog, catalog_url):
        prefix, killed = channel_prefix(topology)
        KEY_TAG = f"{prefix}:invalidate"
        upstreams = standins.upstream_config()
        upstreams["catalog"] = {
            "regions": {"test": catalog_url},
            "policy": {"cache": {"ttl": TTL, "stale_ttl": STALE_TTL}},
        }
        settings = mobile_settings(standins, upstreams=upstreams, cache=cache_config(topology, prefix))
        with serve_mobile(settings) as a, serve_mobile(settings) as b:
            run = Run()

            async def scenario() -> list[dict[str, Any]]:
                warm_until = time.monotonic() + 1.5
                await load([a, b], run, warm_until)
                run.killed_at = time.monotonic()
                topology.processes[killed].kill()  # SIGKILL: no goodbye to clients or replicas
                await asyncio.gather(
                    load([a, b], run, run.killed_at + AFTER_KILL), watch(topology, killed, [a, b], catalog, run)
                )
                async with httpx.AsyncClient(timeout=5) as client:
                    metrics = [(await client.get(f"{base}/metrics")).text for base in (a, b)]
                    return [
                        await cache_state(client, base) | {"metrics": text}
                        for base, text in zip((a, b), metrics, strict=True)
                    ]

            states = asyncio.run(scenario())

    failed = [answer for answer in run.answers if answer[1] != 200]
    after_window = [answer for answer in run.answers if answer[0] > run.changed_at + STALENESS_WINDOW]
    stale = [answer for answer in after_window if answer[2] != "v2"]
    assert run.promoted_at is not None, "no replica was promoted"
    promotion = run.promoted_at - run.killed_at
    # Seconds after the kill: each instance's last failed cache operation (then its breaker
    # held calls off), and the cache back (its breaker closed again, for good).
    last_error = [round(at - run.killed_at, 2) for at in run.last_error_at.values()]
    back = [round(run.cache_back_at.get(base, run.killed_at + AFTER_KILL) - run.killed_at, 2) for base in run.opened]
    figures = {
        "requests": len(run.answers),
        "promotion_s": round(promotion, 2),
        "last_cache_error_s": last_error,
        "cache_back_s": back,
    }
    record_property("failover", figures)
    print(f"\n{name}: {figures}")
    assert failed == []
    assert len(after_window) > 100
    assert stale == []
    assert all(run.breaker_closed.values()) and len(run.breaker_closed) == 2
    # At most two rounds of the cache breaker's open_duration (5 s): the first probe may
    # still find the dead node (a Cluster's slot map is refreshed by that very failure).
    assert back and max(back) < promotion + 2 * 5.0 + 1.0
    for state in states:
        events = {
            line.split("{")[1].split(",")[0]: float(line.rsplit(" ", 1)[1])
            for line in state["metrics"].splitlines()
            if line.startswith("bff_redis_events_total{")
        }
        assert events['event="resubscribed"'] >= 1, (name, events)
