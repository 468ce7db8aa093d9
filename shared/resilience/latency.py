"""Observed latency of one operation: a bounded ring of recent durations and its quantiles.

Used to time hedged requests: hedge once an attempt has run longer than the p95 of its
recent peers.
"""

from __future__ import annotations

import math


class LatencyTracker:
    def __init__(self, size: int = 256) -> None:
        self._samples: list[float] = []
        self._size = size
        self._next = 0

    def observe(self, seconds: float) -> None:
        if len(self._samples) < self._size:
            self._samples.append(seconds)
        else:
            self._samples[self._next] = seconds
        self._next = (self._next + 1) % self._size

    def __len__(self) -> int:
        return len(self._samples)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (nearest rank) of the recent samples, or ``None`` if there are none."""
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[rank - 1]


__all__ = ["LatencyTracker"]
