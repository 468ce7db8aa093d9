"""The stored form of a cache entry: when it was stored, how long it is fresh and then
stale, and the body (sealed when it holds PII)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_HEADER = struct.Struct("!2sdddB")
_MAGIC = b"B1"
_SEALED = 1


class EntryError(Exception):
    """Bytes in the cache that are not an entry of ours."""


@dataclass(frozen=True, slots=True)
class Entry:
    stored_at: float
    ttl: float
    stale_ttl: float
    body: bytes
    sealed: bool = False

    def age(self, now: float) -> float:
        return now - self.stored_at

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.ttl

    def usable(self, now: float) -> bool:
        """Fresh, or stale but within its stale window."""
        return self.age(now) < self.ttl + self.stale_ttl

    def encode(self) -> bytes:
        flags = _SEALED if self.sealed else 0
        return _HEADER.pack(_MAGIC, self.stored_at, self.ttl, self.stale_ttl, flags) + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        if len(raw) < _HEADER.size:
            raise EntryError("too short")
        magic, stored_at, ttl, stale_ttl, flags = _HEADER.unpack_from(raw)
        if magic != _MAGIC:
            raise EntryError("not a cache entry")
        return cls(stored_at, ttl, stale_ttl, raw[_HEADER.size :], sealed=bool(flags & _SEALED))


__all__ = ["Entry", "EntryError"]
