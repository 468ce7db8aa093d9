"""A misbehaving store never fails the caller, and a breaker stops calling a dead one."""

import asyncio
from collections.abc import Sequence
from typing import Literal

import pytest

from shared.cache.guarded import GuardedStore
from shared.cache.stores import Handler
from shared.policy import BreakerPolicy
from shared.resilience.breaker import BreakerState
from shared.settings import CacheSettings
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


# Redis dying or stalling under load, on a manual clock ----------------------------------------

RATES = [10, 700, 5000]
CACHE_BREAKER = CacheSettings().breaker  # what a process runs with unless its config says otherwise
BUDGET = CacheSettings().op_timeout
#: Failed operations after which the guard is open, however many succeeded before.
MOST_FAILED = int(CACHE_BREAKER.failure_rate * CACHE_BREAKER.window_calls)


class SwitchableStore(BrokenStore):
    """Healthy (a miss at once), dead (refused at once) or stalled (no answer until the
    test times the operation out, as the guard's budget would)."""

    def __init__(self) -> None:
        super().__init__()
        self.mode: Literal["healthy", "dead", "stalled"] = "healthy"
        self.stalled: list[tuple[float, asyncio.Future[None]]] = []
        self.clock = ManualClock()

    async def _fail(self) -> None:
        self.calls += 1
        if self.mode == "dead":
            raise ConnectionError("refused")
        if self.mode == "stalled":
            answer = asyncio.get_running_loop().create_future()
            self.stalled.append((self.clock(), answer))
            await answer

    def time_out_stalled(self) -> None:
        while self.stalled and self.stalled[0][0] <= self.clock() - BUDGET:
            self.stalled.pop(0)[1].set_exception(TimeoutError())


async def warmed(rate: int) -> tuple[SwitchableStore, GuardedStore]:
    store = SwitchableStore()
    # The real budget is never reached here: the store's stall ends at BUDGET on the manual clock.
    guarded = GuardedStore(store, op_timeout=60, breaker=CACHE_BREAKER, clock=store.clock)
    for _ in range(min(12 * rate, 20_000)):  # thousands of successes in the window
        store.clock.advance(1 / rate)
        await guarded.get("k")
    assert guarded.breaker.state is BreakerState.CLOSED and guarded.errors == 0
    return store, guarded


@pytest.mark.parametrize("rate", RATES)
async def test_a_redis_that_dies_under_load_is_cut_off_within_a_second(rate: int) -> None:
    store, guarded = await warmed(rate)
    store.mode = "dead"
    store.calls = 0
    ops = 0
    while guarded.breaker.state is BreakerState.CLOSED:
        store.clock.advance(1 / rate)
        await guarded.get("k")
        ops += 1
    assert ops / rate <= 1.0  # seconds on the clock
    assert store.calls <= MOST_FAILED
    for _ in range(rate):  # the next second: not one operation reaches the dead store
        store.clock.advance(1 / rate)
        assert await guarded.get("k") is None
    assert store.calls == guarded.errors <= MOST_FAILED
    assert guarded.skipped == rate


@pytest.mark.parametrize("rate", RATES)
async def test_a_redis_that_stalls_under_load_is_cut_off_within_a_second_of_its_first_timeouts(rate: int) -> None:
    store, guarded = await warmed(rate)
    store.mode = "stalled"
    store.calls = 0
    operations: list[asyncio.Future[bytes | None]] = []
    while guarded.breaker.state is BreakerState.CLOSED:
        store.clock.advance(1 / rate)
        store.time_out_stalled()
        operations.append(asyncio.ensure_future(guarded.get("k")))
        await asyncio.sleep(0)  # each one starts (and those timed out end)
    assert len(operations) / rate <= BUDGET + 1.0  # seconds on the clock
    # Before the first budget ran out nothing was known; after it, a bounded number.
    assert store.calls <= rate * BUDGET + MOST_FAILED + 1
    calls = store.calls
    for _ in range(rate):  # the next second pays no budget at all
        store.clock.advance(1 / rate)
        assert await guarded.get("k") is None
    assert store.calls == calls
    for _, answer in store.stalled:
        answer.set_exception(TimeoutError())
    assert await asyncio.gather(*operations) == [None] * len(operations)


async def test_a_scan_is_behind_the_breaker_too() -> None:
    clock = ManualClock()
    store = BrokenStore()
    guarded = GuardedStore(store, op_timeout=0.05, breaker=BREAKER, clock=clock)
    for _ in range(5):
        assert await guarded.keys_with_prefix("bff:") == []
    assert guarded.breaker.state is BreakerState.OPEN
    assert await guarded.keys_with_prefix("bff:") == []
    assert (store.calls, guarded.errors, guarded.skipped) == (5, 5, 1)


async def test_operations_cancelled_by_their_caller_are_not_held_against_the_store() -> None:
    store = SwitchableStore()
    store.mode = "stalled"
    guarded = GuardedStore(store, op_timeout=60, breaker=CACHE_BREAKER, clock=store.clock)
    operations = [asyncio.ensure_future(guarded.get("k")) for _ in range(100)]
    await asyncio.sleep(0)
    for operation in operations:
        operation.cancel()
    await asyncio.gather(*operations, return_exceptions=True)
    assert guarded.breaker.state is BreakerState.CLOSED
    assert guarded.breaker.snapshot()["calls_in_window"] == 0
    assert store.calls == 100
