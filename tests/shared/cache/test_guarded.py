"""A misbehaving store never fails the caller, and a breaker stops calling a dead one."""

import asyncio
from collections.abc import Sequence

from shared.cache.guarded import GuardedStore
from shared.cache.stores import Handler
from shared.policy import BreakerPolicy
from tests.shared.resilience.clock import ManualClock


class BrokenStore:
    name = "broken"

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.calls = 0

    async def _fail(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(10)
        raise ConnectionError("refused")

    async def get(self, key: str) -> bytes | None:
        await self._fail()
        return None

    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None:
        await self._fail()

    async def delete(self, keys: Sequence[str]) -> int:
        await self._fail()
        return 0

    async def pop_tag(self, tag: str) -> list[str]:
        await self._fail()
        return []

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        await self._fail()
        return []

    async def try_lock(self, key: str, ttl: float) -> str | None:
        await self._fail()
        return None

    async def expire(self, key: str, ttl: float) -> bool:
        raise ConnectionError("down")

    async def unlock(self, key: str, token: str) -> bool:
        await self._fail()
        return False

    async def publish(self, channel: str, message: bytes) -> None:
        await self._fail()

    async def listen(self, channel: str, handler: Handler) -> None:
        return None

    async def aclose(self) -> None:
        return None


BREAKER = BreakerPolicy(minimum_calls=5, failure_rate=0.5, open_duration=5, half_open_probes=1)


async def test_a_refusing_store_reads_as_a_miss_and_writes_are_skipped() -> None:
    guarded = GuardedStore(BrokenStore(), op_timeout=0.05, breaker=BREAKER)
    assert await guarded.get("k") is None
    await guarded.set("k", b"v", 1, [])
    assert await guarded.try_lock("k", 1) is None
    assert guarded.errors == 3


async def test_a_hanging_store_costs_at_most_the_time_budget() -> None:
    guarded = GuardedStore(BrokenStore(hang=True), op_timeout=0.02, breaker=BREAKER)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await guarded.get("k") is None
    assert loop.time() - started < 1.0


async def test_the_breaker_stops_calling_a_dead_store_then_probes_it() -> None:
    clock = ManualClock()
    store = BrokenStore()
    guarded = GuardedStore(store, op_timeout=0.05, breaker=BREAKER, clock=clock)
    for _ in range(20):
        await guarded.get("k")
    assert store.calls == 5
    assert guarded.skipped == 15
    clock.advance(5)
    await guarded.get("k")
    assert store.calls == 6
