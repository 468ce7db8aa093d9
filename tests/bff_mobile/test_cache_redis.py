"""The cache against real Redis: one node, a Sentinel group and a Cluster
(``redis_topology``: a key prefix of the test's own, cleaned up) and, for the failure
tests, a redis-server of the test's own that it stops mid-test."""

import asyncio
import base64
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ADMIN, RedisTopology, ServedUrl, Standins, mobile_settings, own_redis_server, serve_mobile

USER = {"X-User-Id": "7"}
PRODUCT_ROUTE = "GET /products/{product_id}"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on this machine")


def cache_config(redis: str | dict[str, Any], prefix: str, **extra: Any) -> dict[str, Any]:
    """``cache`` for one node's URL or a topology's ``cache.redis`` section."""
    where = {"redis_url": redis} if isinstance(redis, str) else {"redis": redis}
    return {
        **where,
        "prefix": prefix,
        "hmac_key": "test-hmac-key-shared-by-replicas",
        "encryption_keys": {"k1": base64.b64encode(b"0" * 32).decode()},
        "active_key_id": "k1",
        **extra,
    }


@pytest.fixture
def prefix() -> str:
    return f"bfftest{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topology(redis_topology: RedisTopology, prefix: str) -> Iterator[RedisTopology]:
    """The shared topology of this run; the test's keys are deleted after it."""
    yield redis_topology
    redis_topology.forget(prefix)


def route_calls(upstreams: Standins, upstream: str, route: str) -> int:
    total = 0
    for region in upstreams.region_names[upstream]:
        stats = upstreams.http.get(f"{upstreams.url(upstream, region)}/_stats").json()
        total += stats["by_route"].get(route, 0)
    return total


@pytest.fixture
def two_bffs(upstreams: Standins, topology: RedisTopology, prefix: str) -> Iterator[tuple[ServedUrl, ServedUrl]]:
    settings = mobile_settings(upstreams, cache=cache_config(topology.cache, prefix))
    with serve_mobile(settings) as a, serve_mobile(settings) as b:
        yield a, b


async def test_two_instances_share_entries(two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins) -> None:
    a, b = two_bffs
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{a}/v1/products/42")).status_code == 200
        assert (await client.get(f"{b}/v1/products/42")).status_code == 200
    assert route_calls(upstreams, "catalog", PRODUCT_ROUTE) == 1


async def test_per_user_entries_never_cross_users(two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins) -> None:
    a, b = two_bffs
    names: dict[str, set[str]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for user, base in (("7", a), ("8", b), ("7", b), ("8", a)):
            me = (await client.get(f"{base}/v1/me", headers={"X-User-Id": user})).json()
            names.setdefault(user, set()).add(me["name"])
    raw7 = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()["name"]
    raw8 = upstreams.http.get(f"{upstreams.url('accounts')}/users/8").json()["name"]
    assert names == {"7": {raw7}, "8": {raw8}}
    assert route_calls(upstreams, "accounts", "GET /users/{user_id}") == 2 + 2  # 2 BFF misses + 2 reads above


async def test_no_seeded_pii_appears_in_any_raw_redis_key_or_value(
    two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins, topology: RedisTopology, prefix: str
) -> None:
    a, _ = two_bffs
    secrets: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for user in range(1, 11):
            headers = {"X-User-Id": str(user)}
            for path in ("/v1/me", "/v1/home", "/v1/orders"):
                assert (await client.get(f"{a}{path}", headers=headers)).status_code == 200
            raw = upstreams.http.get(f"{upstreams.url('accounts')}/users/{user}").json()
            secrets += [raw["email"], raw["phone"], raw["name"], raw["address"]["street"], raw["birth_date"]]
    found = topology.keys(prefix)  # on every primary (each shard of a Cluster)
    assert len(found) > 10
    values: list[bytes] = [node.get(k) or b"" for k, node in found.items() if node.type(k) == b"string"]  # type: ignore[misc]
    blob = b"\n".join([*found, *values])
    for node in {id(node): node for node in found.values()}.values():
        node.close()
    leaked = [s for s in secrets if s.encode() in blob]
    assert leaked == []


@pytest.mark.parametrize("redis_topology", ["single"], indirect=True)  # one process's own coalescing
async def test_one_hundred_concurrent_identical_misses_make_one_upstream_call(
    two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins
) -> None:
    a, _ = two_bffs
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) as client:
        answers = await asyncio.gather(*(client.get(f"{a}/v1/products/777") for _ in range(100)))
    assert {r.status_code for r in answers} == {200}
    assert route_calls(upstreams, "catalog", PRODUCT_ROUTE) == 1


async def test_an_invalidation_published_by_one_instance_reaches_the_other(
    two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins
) -> None:
    a, b = two_bffs
    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(f"{b}/v1/products/42")  # b now holds it in Redis and in its L1
        await client.get(f"{b}/v1/products/42")
        assert route_calls(upstreams, "catalog", PRODUCT_ROUTE) == 1
        body = {"entity": "product:42"}
        answer = await client.post(f"{a.admin}/admin/cache/invalidate", json=body, headers=ADMIN)
        assert answer.json()["deleted"] >= 1
        await asyncio.sleep(0.2)  # pub/sub delivery to b
        await client.get(f"{b}/v1/products/42")
    assert route_calls(upstreams, "catalog", PRODUCT_ROUTE) == 2


async def test_an_upstream_can_invalidate_by_publishing_to_redis(
    two_bffs: tuple[ServedUrl, ServedUrl], upstreams: Standins, topology: RedisTopology, prefix: str
) -> None:
    a, b = two_bffs
    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(f"{a}/v1/products/43")
        await client.get(f"{b}/v1/products/43")
        topology.publish(f"{prefix}:invalidate", b'{"entity": "product:43"}')  # SPUBLISH on a Cluster
        await asyncio.sleep(0.2)
        await client.get(f"{a}/v1/products/43")
        await client.get(f"{b}/v1/products/43")
    assert route_calls(upstreams, "catalog", PRODUCT_ROUTE) == 2


@pytest.mark.parametrize("redis_topology", ["single"], indirect=True)  # not about the topology
async def test_stale_data_is_named_in_the_response(upstreams: Standins, topology: RedisTopology, prefix: str) -> None:
    policy = {"cache": {"ttl": 0.2, "stale_ttl": 60}}
    config = upstreams.upstream_config()
    config["accounts"]["policy"] = policy
    settings = mobile_settings(upstreams, upstreams=config, cache=cache_config(topology.cache, prefix))
    with serve_mobile(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/v1/me", headers=USER)).json()["stale"] == []
            upstreams.fault("accounts", "*", down=True)
            await asyncio.sleep(0.3)
            answer = await client.get("/v1/me", headers=USER)
    assert answer.status_code == 200
    assert answer.json()["stale"] == ["accounts.get_user"]


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with own_redis_server() as server:
        yield server


async def test_redis_stopped_mid_test_every_request_still_answers(
    own_redis: tuple[str, subprocess.Popen[bytes]], upstreams: Standins, prefix: str
) -> None:
    url, process = own_redis
    settings = mobile_settings(upstreams, cache=cache_config(url, prefix, l1_entries=0))
    with serve_mobile(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get("/v1/home", headers=USER)).status_code == 200
            process.kill()
            process.wait()
            slowest = 0.0
            for user in range(1, 31):
                started = time.monotonic()
                answer = await client.get("/v1/home", headers={"X-User-Id": str(user)})
                slowest = max(slowest, time.monotonic() - started)
                assert answer.status_code == 200
                assert answer.json()["degraded"] == []
            status = (await client.get(f"{base.admin}/admin/cache", headers=ADMIN)).json()
    assert status["errors"] > 0
    assert status["breaker"]["state"] == "open"
    assert slowest < 1.5


async def test_a_black_holed_redis_costs_each_request_at_most_the_budget(upstreams: Standins, prefix: str) -> None:
    # A listening socket that never accepts: connections hang as if packets were dropped.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(1)
        url = f"redis://127.0.0.1:{hole.getsockname()[1]}/0"
        settings = mobile_settings(upstreams, cache=cache_config(url, prefix))
        with serve_mobile(settings) as base:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                slowest = 0.0
                for user in range(1, 21):
                    started = time.monotonic()
                    answer = await client.get("/v1/home", headers={"X-User-Id": str(user)})
                    slowest = max(slowest, time.monotonic() - started)
                    assert answer.status_code == 200
                status = (await client.get(f"{base.admin}/admin/cache", headers=ADMIN)).json()
    assert status["breaker"]["state"] == "open"
    assert slowest < 1.5


def test_redis_url_without_shared_keys_refuses_to_start(upstreams: Standins) -> None:
    from shared import ConfigError
    from shared.settings import CacheSettings

    with pytest.raises(ValueError, match="hmac_key"):
        CacheSettings(redis_url="redis://127.0.0.1:6379/0")
    assert issubclass(ConfigError, Exception)


#: Two replicas and a hundred clients share this test's process: connecting 2 x 64 pooled
#: connections at once can take longer than the production budgets (0.1 s), which would
#: trip the cache's breaker and take the lock out of the test.
BUSY_MACHINE = {"op_timeout": 1.0, "connect_timeout": 1.0}


def stampede_calls(upstreams: Standins, topology: RedisTopology, prefix: str, lock_wait: float) -> int:
    """Catalog calls made by 50 concurrent misses of one key on each of two replicas, with
    the catalog slow enough (300 ms) that every miss arrives before the first fill ends."""
    upstreams.fault("catalog", "*", latency_ms=300)
    cache = cache_config(topology.cache, prefix, lock_wait=lock_wait, **BUSY_MACHINE)
    settings = mobile_settings(upstreams, cache=cache)

    async def run(a: ServedUrl, b: ServedUrl) -> None:
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=100)) as client:
            answers = await asyncio.gather(
                *(client.get(f"{base}/v1/products/888") for _ in range(50) for base in (a, b))
            )
        assert {r.status_code for r in answers} == {200}

    with serve_mobile(settings) as a, serve_mobile(settings) as b:
        asyncio.run(run(a, b))
    return route_calls(upstreams, "catalog", PRODUCT_ROUTE)


def test_a_hot_key_stampede_across_two_replicas_makes_one_upstream_call(
    upstreams: Standins, topology: RedisTopology, prefix: str
) -> None:
    assert stampede_calls(upstreams, topology, prefix, lock_wait=1.0) == 1


def test_without_waiting_on_the_peers_lock_each_replica_calls_once(
    upstreams: Standins, topology: RedisTopology, prefix: str
) -> None:
    # The guard above can fail: with the cross-replica lock not waited on, each replica
    # coalesces only its own 50 misses.
    assert stampede_calls(upstreams, topology, prefix, lock_wait=0) == 2


async def test_redis_events_are_a_metric_named_by_topology(
    two_bffs: tuple[ServedUrl, ServedUrl], topology: RedisTopology
) -> None:
    a, _ = two_bffs
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{a}/metrics")).text
    for event in ("resubscribed", "primary_changed"):
        assert f'bff_redis_events_total{{event="{event}",topology="{topology.name}"}} 0.0' in text
