"""One deadline per inbound request, shared by every upstream call it makes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.types import Clock


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point on a monotonic clock after which work is abandoned.

    >>> d = Deadline.after(2.0, clock=lambda: 10.0)
    >>> d.remaining()
    2.0
    """

    expires_at: float
    clock: Clock = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.expires_at

    def cap(self, timeout: float) -> float:
        """The smaller of ``timeout`` and what is left of the deadline."""
        return min(timeout, self.remaining())


__all__ = ["Deadline"]
