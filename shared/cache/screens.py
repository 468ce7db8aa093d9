"""The screen cache: whole rendered answers of screens, kept in this process while every
section they were made of is fresh in the response cache.

A screen (an ``Endpoint`` declared with ``screen_cache=True``) is rendered as usual; while
it renders, the upstream client notes in the request's ``ScreenRecord`` each cache entry it
read. The answer is kept only when all of these hold:

* it is a 200, and every section came fresh from the response cache: no uncached call, no
  stale entry, no degraded section (such an answer is served, never kept);
* it lives until its shortest-lived section stops being fresh, and, in front of Redis, at
  most ``max_age`` (the L1's bound on an invalidation this replica missed);
* it is kept per user when the rendering read the caller's identity or a per-user entry,
  else once for every caller, signed in and anonymous apart.

It is dropped with the entries it was made of, by key, tag or operation (every
invalidation of the response cache, local or from another replica, reaches it), and all of
it on a config reload; a render during which any of these happened is not kept (it may
hold an entry read before it was dropped). Bounded in bytes (bodies, gzip variants and
keys), least recently used out first.

``ScreenCacheMiddleware`` answers hits before routing, with 304 for a matching
``If-None-Match`` and gzip (compressed once per entry) for clients that ask; the endpoint
side (``keep_rendered``) offers each fresh render.
"""

from __future__ import annotations

import gzip
import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from shared.request_context import ScreenRecord
from shared.types import Clock

#: What the shared slot of a path holds when that screen is kept per user.
_PER_USER = object()
#: Bytes charged per entry beyond its bodies (the objects, the dependency index).
ENTRY_OVERHEAD = 512
MARKER_SIZE = 128
VARY = (b"vary", b"Accept-Encoding")
#: The only headers a kept answer may carry: about the representation, never the request.
KEPT_HEADERS = frozenset({b"content-type", b"content-length", b"etag", b"cache-control", b"vary"})
#: Where ``ScreenCacheMiddleware`` leaves the cache for the endpoint when it missed.
SCOPE_KEY = "bff.screens"


class Screen:
    """One kept answer: its bodies, headers and what it was made of."""

    __slots__ = ("body", "deps", "etag", "expires", "gzipped", "headers", "key", "not_modified", "route", "size")

    def __init__(
        self,
        key: tuple[Any, ...],
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        etag: bytes,
        expires: float,
        route: Any,
        deps: tuple[str, ...],
    ) -> None:
        self.key = key
        self.body = body
        self.headers = headers
        self.etag = etag
        self.expires = expires
        self.route = route
        self.deps = deps
        #: The headers of a 304: the validators and caching rules of the 200, no body's.
        self.not_modified = [(name, value) for name, value in headers if name in (b"etag", b"cache-control", b"vary")]
        self.gzipped: tuple[list[tuple[bytes, bytes]], bytes] | None = None
        self.size = len(body) + ENTRY_OVERHEAD + sum(len(dep) for dep in deps)


class ScreenCache:
    """See the module docstring. ``max_bytes`` bounds the bodies held (0 turns it off)."""

    def __init__(
        self,
        max_bytes: int,
        *,
        max_age: float = math.inf,
        gzip_min_bytes: int = 500,
        compresslevel: int = 6,
        clock: Clock = time.time,
    ) -> None:
        self.enabled = max_bytes > 0
        self._max_bytes = max_bytes
        self._max_age = max_age
        self._gzip_min_bytes = gzip_min_bytes
        self._compresslevel = compresslevel
        self._clock = clock
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._by_dep: dict[str, set[tuple[Any, ...]]] = {}
        self.bytes = 0
        self.hits = 0
        self.kept = 0
        self.dropped = 0
        #: Counts drops and clears: a render started under another generation is not kept.
        self.generation = 0

    # Lookup ---------------------------------------------------------------------------

    def lookup(self, path: str, query: bytes, user: object) -> Screen | None:
        """The kept, still fresh answer for this path and caller, or ``None``."""
        entries = self._entries
        found = entries.get((path, query, user is not None))
        if found is _PER_USER:
            found = entries.get((path, query, "user", user))
        if found is None:
            return None
        if found.expires <= self._clock():
            self._remove(found.key)
            return None
        entries.move_to_end(found.key)
        self.hits += 1
        screen: Screen = found
        return screen

    def gzipped(self, screen: Screen) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """Headers and body of the gzip variant, compressed on first use; ``None`` when
        the body is too small to be worth it."""
        if len(screen.body) < self._gzip_min_bytes:
            return None
        if screen.gzipped is None:
            body = gzip.compress(screen.body, self._compresslevel, mtime=0)
            headers = [
                (name, value if name != b"content-length" else str(len(body)).encode())
                for name, value in screen.headers
            ]
            headers.append((b"content-encoding", b"gzip"))
            screen.gzipped = variant = (headers, body)
            self.bytes += len(body)
            screen.size += len(body)
            self._evict()  # the caller holds the variant: it is served even if this screen goes
            return variant
        return screen.gzipped

    # Keeping --------------------------------------------------------------------------

    def keep(
        self,
        record: ScreenRecord,
        *,
        path: str,
        query: bytes,
        user: object,
        body: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        route: Any,
    ) -> bool:
        """Keep a fresh render; ``False`` when the record says it must not be kept."""
        if not self.enabled or not record.cacheable or not record.keys or record.generation != self.generation:
            return False
        now = self._clock()
        expires = min(record.fresh_until, now + self._max_age)
        if expires <= now:
            return False
        etag = next((value for name, value in headers if name == b"etag"), None)
        if etag is None or any(name not in KEPT_HEADERS for name, _ in headers):
            return False  # no validator, or a header that may be about this request (a cookie)
        signed_in = user is not None
        shared_key: tuple[Any, ...] = (path, query, signed_in)
        if record.per_user:
            if not signed_in:
                return False  # a per-user answer with no user to key it by: not kept
            key: tuple[Any, ...] = (path, query, "user", user)
            if self._entries.get(shared_key) is not _PER_USER:
                self._remove(shared_key)
                self._entries[shared_key] = _PER_USER
                self.bytes += MARKER_SIZE
        else:
            key = shared_key
        self._remove(key)
        deps = tuple(dict.fromkeys([*record.keys, *record.tags]))
        screen = Screen(key, body, [*headers, VARY], etag, expires, route, deps)
        screen.size += len(path) + len(query)  # the key is held too
        if screen.size > self._max_bytes:
            return False
        self._entries[key] = screen
        self.bytes += screen.size
        for dep in deps:
            self._by_dep.setdefault(dep, set()).add(key)
        self.kept += 1
        self._evict()
        return True

    def _evict(self) -> None:
        while self.bytes > self._max_bytes:
            self._remove(next(iter(self._entries)))

    # Dropping -------------------------------------------------------------------------

    def drop(self, deps: Iterable[str]) -> int:
        """Drop every screen made of any of ``deps`` (entry keys or tag keys)."""
        self.generation += 1
        dropped = 0
        for dep in deps:
            for key in list(self._by_dep.get(dep, ())):
                dropped += self._remove(key)
        return dropped

    def drop_prefix(self, prefix: str) -> int:
        """Drop every screen made of an entry whose key starts with ``prefix`` (one operation)."""
        return self.drop([dep for dep in self._by_dep if dep.startswith(prefix)])

    def clear(self) -> None:
        self.generation += 1
        self.dropped += sum(1 for value in self._entries.values() if value is not _PER_USER)
        self._entries.clear()
        self._by_dep.clear()
        self.bytes = 0

    def _remove(self, key: tuple[Any, ...]) -> int:
        found = self._entries.pop(key, None)
        if found is _PER_USER:
            self.bytes -= MARKER_SIZE
            return 0
        if found is None:
            return 0
        self.bytes -= found.size
        self.dropped += 1
        for dep in found.deps:
            keys = self._by_dep.get(dep)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_dep[dep]
        return 1

    def __len__(self) -> int:
        return sum(1 for value in self._entries.values() if value is not _PER_USER)

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "screens": len(self),
            "bytes": self.bytes,
            "max_bytes": self._max_bytes,
            "hits": self.hits,
            "kept": self.kept,
            "dropped": self.dropped,
        }


__all__ = ["SCOPE_KEY", "Screen", "ScreenCache"]
