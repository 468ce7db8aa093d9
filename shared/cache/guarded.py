"""The cache never fails a request.

Every store operation runs within a small time budget and behind a breaker: a slow,
dead or black-holed Redis costs at most ``op_timeout`` per operation until the breaker
opens, and nothing after that until it is probed again. A failed read is a miss; a
failed write is skipped. Errors are counted, never raised.

The breaker decides on the latest outcomes (``shared.resilience.breaker``), so a Redis
that dies or stalls under load is cut off after a few dozen failed operations, however
many succeeded before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from shared.cache.stores import CacheStore, Handler
from shared.policy import BreakerPolicy
from shared.resilience.breaker import Breaker, Outcome
from shared.types import Clock

T = TypeVar("T")
log = logging.getLogger("bff.cache")


class GuardedStore:
    def __init__(
        self, store: CacheStore, *, op_timeout: float, breaker: BreakerPolicy, clock: Clock = time.monotonic
    ) -> None:
        self.store = store
        self.op_timeout = op_timeout
        self.breaker = Breaker(f"cache@{store.name}", breaker, clock)
        self._clock = clock
        self.errors = 0
        self.skipped = 0

    async def run(self, operation: Callable[[], Awaitable[T]], fallback: T, *, budget: float | None = None) -> T:
        """Run one store operation within the budget (``op_timeout`` unless ``budget`` is
        given) and behind the breaker; ``fallback`` on failure."""
        permit = self.breaker.try_acquire()
        if permit is None:
            self.skipped += 1
            return fallback
        outcome = Outcome.FAILURE
        try:
            async with asyncio.timeout(self.op_timeout if budget is None else budget):
                result = await operation()
            outcome = Outcome.SUCCESS
        except asyncio.CancelledError:
            outcome = Outcome.IGNORED
            raise
        except Exception as exc:  # any failure of the cache is a miss, never the request's failure
            self.errors += 1
            log.debug("cache %s failed: %s", self.store.name, type(exc).__name__)
            return fallback
        finally:
            self.breaker.record(permit, outcome, self._clock() - permit.started)
        return result

    async def get(self, key: str) -> bytes | None:
        return await self.run(lambda: self.store.get(key), None)

    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None:
        await self.run(lambda: self.store.set(key, value, ttl, tags), None)

    async def delete(self, keys: Sequence[str]) -> int:
        return await self.run(lambda: self.store.delete(keys), 0)

    async def pop_tag(self, tag: str) -> list[str]:
        return await self.run(lambda: self.store.pop_tag(tag), [])

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        # A scan may legitimately take longer than one read; give it ten budgets.
        return await self.run(lambda: self.store.keys_with_prefix(prefix), [], budget=self.op_timeout * 10)

    async def try_lock(self, key: str, ttl: float) -> str | Literal[False] | None:
        """The lock's token when this caller holds it now, ``False`` when another holder
        has it, ``None`` when the store could not answer."""

        async def attempt() -> str | Literal[False]:
            token = await self.store.try_lock(key, ttl)
            return False if token is None else token

        return await self.run(attempt, None)

    async def unlock(self, key: str, token: str) -> bool:
        """Free the lock if ``token`` still holds it (see ``CacheStore.unlock``)."""
        return await self.run(lambda: self.store.unlock(key, token), False)

    async def publish(self, channel: str, message: bytes) -> bool:
        async def send() -> bool:
            await self.store.publish(channel, message)
            return True

        return await self.run(send, False)

    async def listen(self, channel: str, handler: Handler) -> None:
        await self.store.listen(channel, handler)

    async def aclose(self) -> None:
        await self.store.aclose()


__all__ = ["GuardedStore"]
