"""The in-process tier: decoded, validated answers in this process's memory, LRU-bounded.

A hit is a dict lookup: no task, no time budget, no JSON, no validation, no unsealing
(entries are plaintext, and never leave the process). In front of Redis it keeps an
entry for at most ``max_age`` seconds, so invalidations another replica missed still
arrive within that bound (and at once, through pub/sub); with no Redis it is the whole
cache and keeps each entry until its stale window ends.

What it hands out is shared by every caller: read it, never mutate it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.types import Clock


@dataclass(frozen=True, slots=True)
class Held:
    """One answer as this process holds it, with its freshness on the cache's wall clock.

    ``model`` is the validated answer; ``body`` the plain JSON, kept only for callers that
    parse nothing themselves (then ``model`` is ``None``)."""

    model: Any
    body: bytes | None
    fresh_until: float
    stale_until: float

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def usable(self, now: float) -> bool:
        """Fresh, or stale but within its stale window."""
        return now < self.stale_until


class LocalCache:
    """An LRU of at most ``max_entries`` values, each kept for ``min(lifetime, max_age)``."""

    def __init__(self, max_entries: int, max_age: float, clock: Clock = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, Any, tuple[str, ...]]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock

    def get(self, key: str) -> Any:
        """The value kept under ``key``, or ``None``."""
        item = self._entries.get(key)
        if item is None:
            return None
        if self._clock() >= item[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return item[1]

    def put(self, key: str, value: Any, lifetime: float, tags: Sequence[str]) -> None:
        keep = min(self._max_age, lifetime)
        if keep <= 0 or self._max_entries == 0:
            return
        self._entries[key] = (self._clock() + keep, value, tuple(tags))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop(self, keys: Sequence[str]) -> int:
        """Forget ``keys``; how many were held."""
        dropped = 0
        for key in keys:
            if self._entries.pop(key, None) is not None:
                dropped += 1
        return dropped

    def drop_tag(self, tag: str) -> int:
        return self.drop([key for key, (_, _, tags) in self._entries.items() if tag in tags])

    def drop_prefix(self, prefix: str) -> int:
        return self.drop([key for key in self._entries if key.startswith(prefix)])

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["Held", "LocalCache"]
