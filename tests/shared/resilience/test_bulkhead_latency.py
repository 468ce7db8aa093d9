import asyncio

from shared import BulkheadPolicy
from shared.resilience.bulkhead import Bulkhead
from shared.resilience.latency import LatencyTracker


async def test_bulkhead_admits_up_to_its_size_then_rejects_after_the_wait() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=2, max_wait=0.01))
    assert await bulkhead.acquire()
    assert await bulkhead.acquire()
    assert not await bulkhead.acquire()
    assert bulkhead.rejected == 1
    bulkhead.release()
    assert await bulkhead.acquire()


async def test_bulkhead_waiter_gets_a_slot_freed_within_the_wait() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait=1.0))
    assert await bulkhead.acquire()
    waiter = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0)
    bulkhead.release()
    assert await waiter


def test_latency_quantile_is_nearest_rank_over_recent_samples() -> None:
    tracker = LatencyTracker(size=100)
    for ms in range(1, 101):
        tracker.observe(ms / 1000)
    assert tracker.quantile(0.95) == 0.095
    assert tracker.quantile(0.5) == 0.05
    for _ in range(100):
        tracker.observe(1.0)
    assert tracker.quantile(0.5) == 1.0
    assert LatencyTracker().quantile(0.95) is None


async def test_a_freed_slot_goes_to_the_longest_waiter_not_a_late_arrival() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait=1.0))
    assert await bulkhead.acquire()
    first = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0)
    bulkhead.release()
    late = asyncio.ensure_future(bulkhead.acquire())  # arrives after the release
    assert await first
    await asyncio.sleep(0.01)
    assert not late.done()  # still waiting: the slot was the first waiter's
    bulkhead.release()
    assert await late
    assert bulkhead.in_use == 1


async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait=1.0))
    assert await bulkhead.acquire()
    cancelled = asyncio.ensure_future(bulkhead.acquire())
    after = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0)
    bulkhead.release()  # hands the slot to `cancelled`...
    cancelled.cancel()  # ...which goes away before it runs
    assert await after
    assert bulkhead.in_use == 1
    bulkhead.release()
    assert bulkhead.in_use == 0


async def test_a_rejected_waiter_leaves_no_trace() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait=0.01))
    assert await bulkhead.acquire()
    assert not await bulkhead.acquire()
    bulkhead.release()
    assert bulkhead.in_use == 0
    assert await bulkhead.acquire() and bulkhead.in_use == 1


async def test_a_release_that_finds_only_timed_out_waiters_frees_the_slot() -> None:
    bulkhead = Bulkhead(BulkheadPolicy(max_concurrent=1, max_wait=0.01))
    assert await bulkhead.acquire()
    waiting = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0.02)  # its wait ran out; release before it is told so
    bulkhead.release()
    assert not await waiting
    assert bulkhead.in_use == 0 and bulkhead.rejected == 1
