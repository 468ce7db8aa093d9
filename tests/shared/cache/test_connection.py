"""The one connection layer on each real topology: invalidation events, the blind spot a
dropped subscription leaves (the in-process tier goes), and what a sharded channel costs
a Cluster's bus against a classic one (counted, not timed)."""

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from shared import CachePolicy, Deadline
from shared.cache.response_cache import ResponseCache, build_response_cache
from shared.cache.stores import RedisStore
from shared.settings import CacheSettings
from tests.support import RedisTopology, running_topology

POLICY = CachePolicy(ttl=60, stale_ttl=60)


def settings(topology: RedisTopology, prefix: str) -> CacheSettings:
    return CacheSettings.model_validate(
        {
            "redis": topology.cache,
            "prefix": prefix,
            "hmac_key": "shared",
            "encryption_keys": {"k1": base64.b64encode(b"1" * 32).decode()},
            "active_key_id": "k1",
            "op_timeout": 1,
            "connect_timeout": 1,
            "l1_ttl": 60,  # long, so only an invalidation or a resync can empty it in a test
        }
    )


@pytest.fixture
async def cache(redis_topology: RedisTopology) -> AsyncIterator[ResponseCache]:
    prefix = f"conn{uuid.uuid4().hex[:8]}"
    built = build_response_cache(settings(redis_topology, prefix))
    await built.start()
    yield built
    await built.aclose()
    redis_topology.forget(prefix)


def connection_events(cache: ResponseCache) -> dict[str, int]:
    store = cache.store.store
    assert isinstance(store, RedisStore)
    return dict(store.connection.events)


async def eventually(condition: object, what: str, seconds: float = 10.0) -> None:
    assert callable(condition)
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {seconds}s: {what}")


async def held_locally(cache: ResponseCache, key: str) -> bool:
    return cache.fresh_hit("catalog.get_product", key) is not None


async def load(cache: ResponseCache, key: str) -> None:
    async def from_upstream(_: Deadline) -> tuple[bytes, object]:
        return b'{"id": 1}', None

    await cache.get_or_load(
        operation="catalog.get_product",
        key=key,
        policy=POLICY,
        sealed=False,
        tags=["product:1"],
        deadline=Deadline.after(5),
        load=from_upstream,
    )


def kill_subscriptions(topology: RedisTopology) -> int:
    """Drop every pub/sub connection on every data node, as a failover or a network cut does."""
    killed = 0
    for port, process in topology.processes.items():
        if port in topology.sentinel_ports or process.poll() is not None:
            continue
        client = redis.Redis(port=port, socket_timeout=1)
        killed += int(client.execute_command("CLIENT KILL TYPE pubsub"))  # type: ignore[no-untyped-call]
        client.close()
    return killed


async def test_an_invalidation_event_reaches_another_replica(
    redis_topology: RedisTopology, cache: ResponseCache
) -> None:
    key = cache.keys.entry("catalog.get_product", "s1", {"id": 1}, None)
    await load(cache, key)
    assert await held_locally(cache, key)
    other = build_response_cache(settings(redis_topology, cache.keys.prefix))
    try:
        await other.invalidate_entity("product:1")
    finally:
        await other.aclose()
    await eventually(lambda: cache.fresh_hit("catalog.get_product", key) is None, "the event dropped the L1 entry")


async def test_after_a_dropped_subscription_the_in_process_tier_is_dropped(
    redis_topology: RedisTopology, cache: ResponseCache
) -> None:
    key = cache.keys.entry("catalog.get_product", "s1", {"id": 1}, None)
    store = cache.store.store
    assert isinstance(store, RedisStore)
    await eventually(lambda: store.connection.subscribed_at is not None, "subscribed")
    await load(cache, key)
    assert await held_locally(cache, key)
    assert kill_subscriptions(redis_topology) >= 1
    # Events published while it was gone are lost: what it held may be stale, so it goes.
    await eventually(lambda: connection_events(cache).get("resubscribed", 0) >= 1, "subscribed again")
    await eventually(lambda: cache.fresh_hit("catalog.get_product", key) is None, "the L1 emptied on resubscribe")


async def test_a_subscription_that_stops_answering_is_given_up_within_three_heartbeats(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_topology("single", tmp_path_factory.mktemp("paused")) as topology:
        store = RedisStore(topology.store(timeout=0.5).connection, heartbeat=0.1)
        seen: list[bytes] = []

        async def handler(message: bytes) -> None:
            seen.append(message)

        await store.listen("paused:invalidate", handler)
        try:
            await eventually(lambda: len(seen) == 1, "the first subscription")
            paused = redis.Redis(port=topology.primary_port(), socket_timeout=1)
            paused.execute_command("CLIENT PAUSE", 1500, "ALL")  # type: ignore[no-untyped-call]  # silent, not closed
            paused.close()
            await eventually(lambda: len(seen) >= 2, "a resubscription after the pause", seconds=5)
        finally:
            await store.aclose()
    assert store.connection.events["resubscribed"] >= 1


def bus_messages(topology: RedisTopology, field: str) -> int:
    total = 0
    for port, process in topology.processes.items():
        if process.poll() is None:
            client = redis.Redis(port=port, socket_timeout=1)
            total += int(client.cluster("info").get(field, 0))
            client.close()
    return total


@pytest.mark.parametrize("redis_topology", ["cluster"], indirect=True)
def test_a_sharded_event_crosses_the_cluster_bus_once_a_classic_one_once_per_other_node(
    redis_topology: RedisTopology,
) -> None:
    """Why invalidation uses SPUBLISH on a Cluster: a classic PUBLISH is copied to every
    other node (5 of 6 here), a sharded one only to the replica of the channel's shard."""
    cluster = redis_topology.cluster_client()
    events = 100
    try:
        before = bus_messages(redis_topology, "cluster_stats_messages_publish_sent")
        for _ in range(events):
            cluster.publish("bff:invalidate", b"{}")
        classic = bus_messages(redis_topology, "cluster_stats_messages_publish_sent") - before
        before = bus_messages(redis_topology, "cluster_stats_messages_publishshard_sent")
        for _ in range(events):
            cluster.spublish("bff:invalidate", b"{}")
        sharded = bus_messages(redis_topology, "cluster_stats_messages_publishshard_sent") - before
    finally:
        cluster.close()
    assert classic == events * 5
    assert sharded == events * 1
