"""Counts over a sliding time window, in fixed buckets, on an injected clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.types import Clock


@dataclass(slots=True)
class _Bucket:
    epoch: int = -1
    calls: int = 0
    failures: int = 0
    slow: int = 0
    extra: int = 0


@dataclass(frozen=True, slots=True)
class Totals:
    calls: int
    failures: int
    slow: int
    extra: int


class SlidingWindow:
    """The last ``span`` seconds of outcomes, in ``resolution`` buckets.

    A bucket covers ``span / resolution`` seconds; the window is the current bucket and
    the ``resolution - 1`` before it, so an outcome leaves the window between
    ``span - span/resolution`` and ``span`` seconds after it was recorded.
    """

    def __init__(self, span: float, clock: Clock, resolution: int = 10) -> None:
        self._width = span / resolution
        self._clock = clock
        self._buckets = [_Bucket() for _ in range(resolution)]

    def _epoch(self) -> int:
        return math.floor(self._clock() / self._width)

    def _current(self) -> _Bucket:
        epoch = self._epoch()
        bucket = self._buckets[epoch % len(self._buckets)]
        if bucket.epoch != epoch:
            bucket.epoch, bucket.calls, bucket.failures, bucket.slow, bucket.extra = epoch, 0, 0, 0, 0
        return bucket

    def record(self, *, failed: bool = False, slow: bool = False) -> None:
        bucket = self._current()
        bucket.calls += 1
        bucket.failures += failed
        bucket.slow += slow

    def record_extra(self) -> None:
        self._current().extra += 1

    def totals(self) -> Totals:
        oldest = self._epoch() - len(self._buckets) + 1
        calls = failures = slow = extra = 0
        for bucket in self._buckets:  # one pass: this runs after every recorded call
            if bucket.epoch >= oldest:
                calls += bucket.calls
                failures += bucket.failures
                slow += bucket.slow
                extra += bucket.extra
        return Totals(calls=calls, failures=failures, slow=slow, extra=extra)

    def clear(self) -> None:
        for bucket in self._buckets:
            bucket.epoch = -1
