"""The cross-replica fill lock against real Redis, on one node, a Sentinel group and a
Cluster (``redis_topology``; a key prefix of the test's own, cleaned up): two replicas are
two ``ResponseCache`` instances, each with its own connection pool and its own in-process
coalescing, sharing one Redis."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from shared import CachePolicy, Deadline
from shared.cache.connection import AnyRedis
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.response_cache import ResponseCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore, RedisStore
from shared.policy import BreakerPolicy
from shared.settings import CacheSettings
from tests.support import RedisTopology

POLICY = CachePolicy(ttl=10, stale_ttl=60)
#: Long enough that a waiting replica never gives up on the holder within a test.
SETTINGS = CacheSettings(lock_ttl=5, lock_wait=3)


@pytest.fixture
def prefix(redis_topology: RedisTopology) -> Iterator[str]:
    name = f"bfftest{uuid.uuid4().hex[:10]}"
    yield name
    redis_topology.forget(name)


@pytest.fixture
async def raw(redis_topology: RedisTopology) -> AsyncIterator[AnyRedis]:
    connection = redis_topology.connection()
    yield connection.client
    await connection.aclose()


@pytest.fixture
def redis_store(redis_topology: RedisTopology) -> Callable[..., RedisStore]:
    def make(kind: type[RedisStore] = RedisStore) -> RedisStore:
        store = redis_topology.store()
        return kind(store.connection)

    return make


class LockSwitchedOff(RedisStore):
    """A store whose fill lock grants every caller: what the replicas do without the lock."""

    async def try_lock(self, key: str, ttl: float) -> str | None:
        return "anyone"


class Upstream:
    """Counts loads across replicas. A load holds until a second replica has shown its
    hand, by loading too or by waiting for a peer: then every miss is surely concurrent."""

    def __init__(self) -> None:
        self.calls = 0
        self.second_replica_seen = asyncio.Event()

    async def load(self, deadline: Deadline) -> tuple[bytes, Any]:
        self.calls += 1
        if self.calls >= 2:
            self.second_replica_seen.set()
        await asyncio.wait_for(self.second_replica_seen.wait(), 5)
        return b'{"id": 888}', None

    def sleep(self) -> Callable[[float], Awaitable[None]]:
        async def waiting_for_peer(seconds: float) -> None:
            self.second_replica_seen.set()
            await asyncio.sleep(seconds)

        return waiting_for_peer


def replica(store: RedisStore, prefix: str, upstream: Upstream) -> ResponseCache:
    guarded = GuardedStore(store, op_timeout=1, breaker=BreakerPolicy())
    keys = CacheKeys(prefix, b"shared-hmac-key-of-both-replicas")
    return ResponseCache(guarded, keys, Sealer.ephemeral(), SETTINGS, sleep=upstream.sleep())


async def fetch(cache: ResponseCache, upstream: Upstream, prefix: str) -> bytes:
    result = await cache.get_or_load(
        operation="catalog.get_product",
        key=f"{prefix}:catalog.get_product:s:888",
        policy=POLICY,
        sealed=False,
        tags=[],
        deadline=Deadline.after(10),
        load=upstream.load,
    )
    assert result.body is not None  # no parse given: the cache hands back bodies
    return result.body


async def stampede(make_store: Callable[[], RedisStore], prefix: str) -> int:
    """Upstream loads made by 20 concurrent identical misses on each of two replicas."""
    upstream = Upstream()
    replicas = [replica(make_store(), prefix, upstream) for _ in range(2)]
    try:
        bodies = await asyncio.gather(*(fetch(cache, upstream, prefix) for _ in range(20) for cache in replicas))
    finally:
        for cache in replicas:
            await cache.aclose()
    assert set(bodies) == {b'{"id": 888}'}
    return upstream.calls


async def test_concurrent_misses_on_two_replicas_make_one_upstream_call(
    prefix: str, redis_store: Callable[..., RedisStore]
) -> None:
    assert await stampede(redis_store, prefix) == 1


async def test_the_same_stampede_without_the_lock_makes_one_call_per_replica(
    prefix: str, redis_store: Callable[..., RedisStore]
) -> None:
    # What the test above guards against: each replica coalesces only its own callers.
    assert await stampede(lambda: redis_store(LockSwitchedOff), prefix) == 2


async def test_a_lock_taken_over_after_expiry_cannot_be_released_by_its_old_holder(
    prefix: str, raw: AnyRedis, redis_store: Callable[..., RedisStore]
) -> None:
    first, second = redis_store(), redis_store()
    lock = f"{prefix}:lock:k"
    try:
        old = await first.try_lock(lock, 5)
        assert old is not None
        assert await second.try_lock(lock, 5) is None
        await raw.delete(lock)  # the first holder's lock expires while it is still loading
        new = await second.try_lock(lock, 5)
        assert new is not None
        assert await first.unlock(lock, old) is False
        assert await raw.get(lock) == new.encode()
        assert await second.unlock(lock, new) is True
        assert await raw.exists(lock) == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_fill_that_outlived_its_lock_leaves_the_next_holders_lock_alone(
    prefix: str, raw: AnyRedis, redis_store: Callable[..., RedisStore]
) -> None:
    upstream = Upstream()
    slow, next_holder = replica(redis_store(), prefix, upstream), replica(redis_store(), prefix, upstream)
    keys = CacheKeys(prefix, b"shared-hmac-key-of-both-replicas")
    lock = keys.lock(f"{prefix}:catalog.get_product:s:888")
    try:
        filling = asyncio.ensure_future(fetch(slow, upstream, prefix))
        while upstream.calls == 0:  # the slow replica holds the lock and is loading
            await asyncio.sleep(0.001)
        await raw.delete(lock)  # ... past lock_ttl: its lock expires
        taken = await next_holder.store.try_lock(lock, 5)
        assert taken
        upstream.second_replica_seen.set()
        await filling  # the slow replica finishes and releases "its" lock
        assert await raw.get(lock) == taken.encode()
    finally:
        await slow.aclose()
        await next_holder.aclose()


async def test_the_in_process_store_checks_the_token_on_release_too() -> None:
    store = MemoryStore(10)
    old = await store.try_lock("lock", 5)
    assert old is not None
    assert await store.try_lock("lock", 5) is None
    await store.delete(["lock"])  # expired
    new = await store.try_lock("lock", 5)
    assert new is not None
    assert await store.unlock("lock", old) is False
    assert await store.try_lock("lock", 5) is None
    assert await store.unlock("lock", new) is True
    assert await store.try_lock("lock", 5) is not None
