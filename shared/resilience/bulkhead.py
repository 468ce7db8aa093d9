"""A bulkhead: at most ``max_concurrent`` calls to one upstream at once.

A call that finds it full waits at most ``max_wait`` and is then rejected at once,
so a slow upstream ties up a bounded number of connections and never a growing queue.
A freed slot goes straight to the longest waiter, so a late arrival cannot overtake it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from shared.policy import BulkheadPolicy


class Bulkhead:
    def __init__(self, policy: BulkheadPolicy) -> None:
        self.policy = policy
        self.in_use = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> bool:
        """Take a slot; ``False`` if none frees up within ``max_wait``."""
        if self.in_use < self.policy.max_concurrent and not self._waiters:
            self.in_use += 1  # the common case: a counter, no lock and no await
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.policy.max_wait, _time_out, waiter)
        try:
            await waiter
        except TimeoutError:
            if waiter in self._waiters:  # a release may have passed it over already
                self._waiters.remove(waiter)
            self.rejected += 1
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # handed a slot, then cancelled before it ran: give it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        finally:
            timer.cancel()
        return True  # the releasing call handed its slot over (in_use unchanged)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self.in_use -= 1


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


__all__ = ["Bulkhead"]
