"""A bulkhead: at most ``max_concurrent`` calls to one upstream at once.

A call that finds it full waits at most ``max_wait`` and is then rejected at once,
so a slow upstream ties up a bounded number of connections and never a growing queue.
"""

from __future__ import annotations

import asyncio

from shared.policy import BulkheadPolicy


class Bulkhead:
    def __init__(self, policy: BulkheadPolicy) -> None:
        self.policy = policy
        self._slots = asyncio.Semaphore(policy.max_concurrent)
        self.in_use = 0
        self.rejected = 0

    async def acquire(self) -> bool:
        """Take a slot; ``False`` if none frees up within ``max_wait``."""
        if not self._slots.locked():
            await self._slots.acquire()
        else:
            try:
                await asyncio.wait_for(self._slots.acquire(), self.policy.max_wait)
            except TimeoutError:
                self.rejected += 1
                return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._slots.release()


__all__ = ["Bulkhead"]
