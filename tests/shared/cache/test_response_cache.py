"""The cache's semantics on the in-process store and a manual wall clock."""

import asyncio
import gc
from typing import Any

import pytest

from shared import CachePolicy, Deadline, UpstreamUnavailable
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.response_cache import ResponseCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.policy import BreakerPolicy
from shared.settings import CacheSettings
from tests.shared.resilience.clock import ManualClock

POLICY = CachePolicy(ttl=10, stale_ttl=60)


class Upstream:
    """A loader that counts its calls; it can be slowed down or made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, deadline: Deadline) -> tuple[bytes, Any]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise UpstreamUnavailable("up", "op", "down")
        return f'{{"version": {self.calls}}}'.encode(), None


def make(wall: ManualClock) -> tuple[ResponseCache, MemoryStore]:
    store = MemoryStore(1000)
    guarded = GuardedStore(store, op_timeout=1, breaker=BreakerPolicy())
    cache = ResponseCache(guarded, CacheKeys("t", b"k" * 32), Sealer.ephemeral(), CacheSettings(), wall_clock=wall)
    return cache, store


async def fetch(cache: ResponseCache, upstream: Upstream, policy: CachePolicy = POLICY, sealed: bool = False) -> Any:
    return await cache.get_or_load(
        operation="up.op",
        key="t:up.op:s:1",
        policy=policy,
        sealed=sealed,
        tags=["thing:1"],
        deadline=Deadline.after(5),
        load=upstream,
    )


async def test_a_fresh_entry_is_served_without_calling_the_upstream() -> None:
    wall = ManualClock()
    cache, _ = make(wall)
    upstream = Upstream()
    first = await fetch(cache, upstream)
    wall.advance(9.9)
    second = await fetch(cache, upstream)
    assert upstream.calls == 1
    assert second.body == first.body
    assert not second.stale
    assert cache.counters["up.op"]["hits"] == 1
    assert cache.counters["up.op"]["misses"] == 1


async def test_a_stale_entry_is_served_at_once_and_refreshed_exactly_once_under_load() -> None:
    wall = ManualClock()
    cache, _ = make(wall)
    upstream = Upstream()
    await fetch(cache, upstream)
    wall.advance(11)
    upstream.gate = asyncio.Event()
    answers = await asyncio.gather(*(fetch(cache, upstream) for _ in range(100)))
    assert all(answer.stale and answer.body == b'{"version": 1}' for answer in answers)
    upstream.gate.set()
    await asyncio.sleep(0.01)
    assert upstream.calls == 2
    fresh = await fetch(cache, upstream)
    assert (fresh.stale, fresh.body) == (False, b'{"version": 2}')
    assert cache.counters["up.op"]["refreshes"] == 1


async def test_one_hundred_concurrent_identical_misses_make_one_upstream_call() -> None:
    cache, _ = make(ManualClock())
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    pending = [asyncio.ensure_future(fetch(cache, upstream)) for _ in range(100)]
    await asyncio.sleep(0.01)
    upstream.gate.set()
    answers = await asyncio.gather(*pending)
    assert upstream.calls == 1
    assert {a.body for a in answers} == {b'{"version": 1}'}
    assert cache.counters["up.op"]["coalesced"] == 99


async def test_a_cancelled_caller_does_not_cancel_those_coalesced_onto_it() -> None:
    cache, _ = make(ManualClock())
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    leader = asyncio.ensure_future(fetch(cache, upstream))
    await asyncio.sleep(0)
    follower = asyncio.ensure_future(fetch(cache, upstream))
    await asyncio.sleep(0)
    leader.cancel()
    upstream.gate.set()
    assert (await follower).body == b'{"version": 1}'


async def test_stale_if_error_serves_the_stale_entry_when_the_upstream_fails() -> None:
    wall = ManualClock()
    cache, _ = make(wall)
    upstream = Upstream()
    policy = CachePolicy(ttl=10, stale_ttl=60, stale_while_revalidate=False)
    await fetch(cache, upstream, policy)
    wall.advance(30)
    upstream.fail = True
    answer = await fetch(cache, upstream, policy)
    assert (answer.stale, answer.body) == (True, b'{"version": 1}')


async def test_past_the_stale_window_the_failure_reaches_the_caller() -> None:
    wall = ManualClock()
    cache, _ = make(wall)
    upstream = Upstream()
    await fetch(cache, upstream)
    wall.advance(71)
    upstream.fail = True
    with pytest.raises(UpstreamUnavailable):
        await fetch(cache, upstream)


async def test_pii_entries_are_sealed_in_the_store() -> None:
    cache, store = make(ManualClock())
    upstream = Upstream()
    await fetch(cache, upstream, sealed=True)
    raw = await store.get("t:up.op:s:1")
    assert raw is not None
    assert b"version" not in raw
    assert (await fetch(cache, upstream, sealed=True)).body == b'{"version": 1}'


async def test_invalidating_an_entity_drops_its_entries() -> None:
    cache, _ = make(ManualClock())
    upstream = Upstream()
    await fetch(cache, upstream)
    assert await cache.invalidate_entity("thing:1") == 1
    await fetch(cache, upstream)
    assert upstream.calls == 2


async def test_invalidating_an_operation_drops_all_its_entries() -> None:
    cache, _ = make(ManualClock())
    upstream = Upstream()
    await fetch(cache, upstream)
    assert await cache.invalidate_operation("up.op") == 1
    await fetch(cache, upstream)
    assert upstream.calls == 2


async def test_a_fill_that_fails_after_its_callers_left_is_not_reported_as_never_retrieved() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    cache, _ = make(ManualClock())
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    upstream.fail = True
    caller = asyncio.ensure_future(fetch(cache, upstream))
    while upstream.calls == 0:  # the fill is under way
        await asyncio.sleep(0)
    caller.cancel()  # a fan-out section given up on, for instance
    upstream.gate.set()
    await asyncio.sleep(0.01)
    del caller
    gc.collect()
    loop.set_exception_handler(None)
    assert [(context["message"], repr(context.get("future"))) for context in reported] == []
