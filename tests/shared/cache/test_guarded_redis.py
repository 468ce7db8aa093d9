"""The guard's breaker against a real Redis that is not there, dies or stalls: it opens,
and then the store is not called at all. Counted in calls that reach the store, never in
time. Each test runs a redis-server of its own (or a port with nothing listening)."""

import contextlib
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest

from shared.cache.connection import connect
from shared.cache.guarded import GuardedStore
from shared.cache.stores import RedisStore
from shared.resilience.breaker import BreakerState
from shared.settings import CacheSettings, RedisSettings
from tests.shared.resilience.clock import ManualClock
from tests.support import free_port, own_redis_server

CACHE = CacheSettings()  # the guard's breaker as a process runs it unless configured otherwise
RATE = 700  # operations per second, on the breaker's (manual) clock
MOST_FAILED = int(CACHE.breaker.failure_rate * CACHE.breaker.window_calls)

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server on this machine")


class CountedRedisStore(RedisStore):
    """A RedisStore that counts the reads that reach it."""

    def __init__(self, url: str, op_timeout: float) -> None:
        settings = RedisSettings(url=url)
        super().__init__(connect(settings, pool_size=8, op_timeout=op_timeout, connect_timeout=op_timeout))
        self.reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await super().get(key)


@pytest.fixture
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with own_redis_server() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@contextlib.asynccontextmanager
async def guard(url: str, clock: ManualClock, op_timeout: float = CACHE.op_timeout) -> AsyncIterator[GuardedStore]:
    store = CountedRedisStore(url, op_timeout)
    guarded = GuardedStore(store, op_timeout=op_timeout, breaker=CACHE.breaker, clock=clock)
    try:
        yield guarded
    finally:
        await guarded.aclose()


def reads(guarded: GuardedStore) -> int:
    assert isinstance(guarded.store, CountedRedisStore)
    return guarded.store.reads


async def read_until_open(guarded: GuardedStore, clock: ManualClock, most: int) -> int:
    """Read at RATE until the breaker opens (at most ``most`` reads); the reads it took."""
    for done in range(1, most + 1):
        clock.advance(1 / RATE)
        assert await guarded.get("k") is None
        if guarded.breaker.state is BreakerState.OPEN:
            return done
    raise AssertionError(f"the guard's breaker was still closed after {most} failed reads")


async def healthy_history(guarded: GuardedStore, clock: ManualClock, reads: int) -> None:
    for _ in range(reads):
        clock.advance(1 / RATE)
        await guarded.get("k")
    assert guarded.errors <= reads // 100, "the test's own redis-server did not answer"
    assert guarded.breaker.state is BreakerState.CLOSED


async def assert_left_alone(guarded: GuardedStore, clock: ManualClock) -> None:
    """While open, a thousand reads more reach the store not once; after open_duration one probe does."""
    before = reads(guarded)
    for _ in range(1000):
        clock.advance(1 / RATE)
        assert await guarded.get("k") is None
    assert reads(guarded) == before
    clock.advance(CACHE.breaker.open_duration)
    await guarded.get("k")
    assert reads(guarded) == before + CACHE.breaker.half_open_probes
    assert guarded.breaker.state is BreakerState.OPEN  # the probe failed: open again


async def test_nothing_listening_opens_the_breaker_and_then_it_is_not_called(clock: ManualClock) -> None:
    async with guard(f"redis://127.0.0.1:{free_port()}/0", clock) as guarded:
        assert await read_until_open(guarded, clock, most=MOST_FAILED) == CACHE.breaker.minimum_calls
        assert reads(guarded) == CACHE.breaker.minimum_calls
        await assert_left_alone(guarded, clock)


async def test_a_redis_killed_after_thousands_of_reads_is_cut_off_after_a_bounded_number(
    redis_server: tuple[str, subprocess.Popen[bytes]], clock: ManualClock
) -> None:
    url, process = redis_server
    async with guard(url, clock) as guarded:
        await healthy_history(guarded, clock, 2000)
        process.kill()
        process.wait()
        before = reads(guarded)
        failed = await read_until_open(guarded, clock, most=1000)
        assert failed <= MOST_FAILED
        assert reads(guarded) - before == failed
        await assert_left_alone(guarded, clock)


async def test_a_redis_stalled_after_thousands_of_reads_is_cut_off_after_a_bounded_number(
    redis_server: tuple[str, subprocess.Popen[bytes]], clock: ManualClock
) -> None:
    url, process = redis_server
    # A short real budget: each stalled read waits it out (on the real clock) before it fails.
    async with guard(url, clock, op_timeout=0.05) as guarded:
        await healthy_history(guarded, clock, 2000)
        process.send_signal(signal.SIGSTOP)
        before = reads(guarded)
        failed = await read_until_open(guarded, clock, most=1000)
        assert failed <= MOST_FAILED
        assert reads(guarded) - before == failed
        await assert_left_alone(guarded, clock)
