"""A small in-process LRU with expiry: the L1 in front of Redis.

Holds opened (decrypted) entries for at most ``max_age`` seconds, so a replica serves its
hottest keys without a round trip while invalidations still arrive within that bound
(and at once, through pub/sub).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from shared.cache.entry import Entry
from shared.types import Clock


class LocalCache:
    def __init__(self, max_entries: int, max_age: float, clock: Clock = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[float, Entry, tuple[str, ...]]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock

    def get(self, key: str) -> Entry | None:
        item = self._entries.get(key)
        if item is None:
            return None
        expires_at, entry, _ = item
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: Entry, lifetime: float, tags: Sequence[str]) -> None:
        keep = min(self._max_age, lifetime)
        if keep <= 0 or self._max_entries == 0:
            return
        self._entries[key] = (self._clock() + keep, entry, tuple(tags))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def drop_tag(self, tag: str) -> None:
        self.drop([key for key, (_, _, tags) in self._entries.items() if tag in tags])

    def drop_prefix(self, prefix: str) -> None:
        self.drop([key for key in self._entries if key.startswith(prefix)])

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["LocalCache"]
