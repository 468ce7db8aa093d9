"""The cross-replica fill lock against the machine's real Redis (db 11, a key prefix of
the test's own, cleaned up): two replicas are two ``ResponseCache`` instances, each with
its own connection pool and its own in-process coalescing, sharing one Redis."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared import CachePolicy, Deadline
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.response_cache import ResponseCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore, RedisStore
from shared.policy import BreakerPolicy
from shared.settings import CacheSettings

MACHINE_REDIS = "redis://127.0.0.1:6379/11"
POLICY = CachePolicy(ttl=10, stale_ttl=60)
#: Long enough that a waiting replica never gives up on the holder within a test.
SETTINGS = CacheSettings(lock_ttl=5, lock_wait=3)


async def redis_up() -> bool:
    client = aioredis.Redis.from_url(MACHINE_REDIS, socket_timeout=0.5)
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    if not await redis_up():
        pytest.skip("no Redis at 127.0.0.1:6379")
    name = f"bfftest{uuid.uuid4().hex[:10]}"
    yield name
    client = aioredis.Redis.from_url(MACHINE_REDIS)
    keys = [key async for key in client.scan_iter(match=f"{name}:*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(MACHINE_REDIS)
    yield client
    await client.aclose()


class LockSwitchedOff(RedisStore):
    """A store whose fill lock grants every caller: what the replicas do without the lock."""

    async def try_lock(self, key: str, ttl: float) -> str | None:
        return "anyone"


def redis_store(kind: type[RedisStore] = RedisStore) -> RedisStore:
    return kind(MACHINE_REDIS, pool_size=100, op_timeout=1, connect_timeout=1)


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


async def test_concurrent_misses_on_two_replicas_make_one_upstream_call(prefix: str) -> None:
    assert await stampede(redis_store, prefix) == 1


async def test_the_same_stampede_without_the_lock_makes_one_call_per_replica(prefix: str) -> None:
    # What the test above guards against: each replica coalesces only its own callers.
    assert await stampede(lambda: redis_store(LockSwitchedOff), prefix) == 2


async def test_a_lock_taken_over_after_expiry_cannot_be_released_by_its_old_holder(
    prefix: str, raw: aioredis.Redis
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
    prefix: str, raw: aioredis.Redis
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
