"""The outcomes a breaker decides on: a count window cut short by time.

The decision set is the most recent outcomes: every one of the last ``recent`` seconds,
but never more than ``max_calls`` of them, and — reaching back at most ``max_age``
seconds — never fewer than ``min_calls`` while that many exist::

    newest ◄─────────────────────────────────────────────────────── oldest
    │ the last `recent` seconds │ older: kept only to make up min_calls │ past max_age: gone
    └──── at most max_calls outcomes in all ────┘

So a fresh outage outweighs any amount of healthy history: at a high rate the count cap
holds only the last fraction of a second, at a low rate the window is the last
``min_calls`` outcomes. Time is whatever the caller passes as ``now`` (an injected clock).

Outcomes live in a ring of preallocated slots with running totals, so adding one is O(1)
amortised and allocates nothing; each is numbered, so one counted slow while its call was
still running can be marked failed when the call ends, if it is still in the window.
"""

from __future__ import annotations

_FAILED = 1
_SLOW = 2


class OutcomeWindow:
    __slots__ = (
        "_flags",
        "_times",
        "calls",
        "failures",
        "max_age",
        "max_calls",
        "min_calls",
        "newest",
        "oldest",
        "recent",
        "slow",
    )

    def __init__(self, *, max_calls: int, min_calls: int, recent: float, max_age: float) -> None:
        self.max_calls = max_calls
        self.min_calls = min_calls
        self.recent = recent
        self.max_age = max_age
        self._times = [0.0] * max_calls
        self._flags = [0] * max_calls
        #: Sequence numbers: outcomes ``oldest`` up to (not including) ``newest`` are in the window.
        self.oldest = 0
        self.newest = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def add(self, now: float, *, failed: bool, slow: bool) -> int:
        """Count one outcome at ``now``; returns its sequence number (see ``mark_failed``)."""
        if self.calls == self.max_calls:
            self._drop_oldest()
        number = self.newest
        slot = number % self.max_calls
        self._times[slot] = now
        self._flags[slot] = failed | (slow << 1)
        self.newest = number + 1
        self.calls += 1
        self.failures += failed
        self.slow += slow
        self.trim(now)
        return number

    def mark_failed(self, number: int) -> bool:
        """Turn outcome ``number`` into a failure; ``False`` if it has left the window."""
        if not self.oldest <= number < self.newest:
            return False
        slot = number % self.max_calls
        if not self._flags[slot] & _FAILED:
            self._flags[slot] |= _FAILED
            self.failures += 1
        return True

    def trim(self, now: float) -> None:
        """Drop what ``now`` has aged out of the window."""
        times = self._times
        recent_edge = now - self.recent
        oldest_edge = now - self.max_age
        while self.calls:
            stamp = times[self.oldest % self.max_calls]
            if stamp > oldest_edge and (stamp > recent_edge or self.calls <= self.min_calls):
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        flags = self._flags[self.oldest % self.max_calls]
        self.oldest += 1
        self.calls -= 1
        self.failures -= flags & _FAILED
        self.slow -= (flags & _SLOW) >> 1

    def clear(self) -> None:
        self.oldest = self.newest
        self.calls = self.failures = self.slow = 0


__all__ = ["OutcomeWindow"]
