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
