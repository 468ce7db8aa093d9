"""What one request knows about itself, readable anywhere below the middleware that opens it.

* its id (``current_request_id``);
* its *report*: what the layers below note about the answer, read back by the screens
  and the screen cache: upstream data served stale from the cache (``note_stale``,
  ``stale_data``), a section that fell back (``note_degraded``), and, while a screen is
  rendered for the screen cache, what the answer depends on (``screen_record``).

``RequestIdMiddleware`` opens one context per request. Sections of a fan-out run as tasks
that inherit it, so they write to the same report. A leaf module: it imports nothing of
the project, so the upstream core and the screens can read it without a middleware.
"""

from __future__ import annotations

import math
from contextvars import ContextVar, Token


class ScreenRecord:
    """What a screen being rendered depends on: the cache entries it read, their tags, and
    the earliest moment one of them stops being fresh. Anything the cache did not answer
    fresh (an uncached call, a stale entry) makes the screen uncacheable. ``generation``
    is the screen cache's when the rendering started: an invalidation since then may have
    dropped an entry this render already read, so the render is not kept."""

    __slots__ = ("cacheable", "fresh_until", "generation", "keys", "per_user", "tags")

    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
        self.cacheable = True
        self.fresh_until = math.inf
        self.per_user = False
        self.keys: list[str] = []
        self.tags: list[str] = []

    def depends_on(self, key: str, tags: list[str], fresh_until: float, *, per_user: bool) -> None:
        self.keys.append(key)
        self.tags.extend(tags)
        if fresh_until < self.fresh_until:
            self.fresh_until = fresh_until
        if per_user:
            self.per_user = True


class RequestContext:
    __slots__ = ("degraded", "request_id", "screen", "stale")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.stale: set[str] | None = None
        self.degraded = False
        #: Set by the screen cache while this request renders a screen it may keep.
        self.screen: ScreenRecord | None = None


_current: ContextVar[RequestContext | None] = ContextVar("bff_request", default=None)


def open_request(request_id: str) -> tuple[RequestContext, Token[RequestContext | None]]:
    """Start the context of a request (``close_request`` with the token ends it)."""
    opened = RequestContext(request_id)
    return opened, _current.set(opened)


def close_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def current_request() -> RequestContext | None:
    return _current.get()


def current_request_id() -> str:
    """The id of the request being served, or ``""`` outside one."""
    opened = _current.get()
    return "" if opened is None else opened.request_id


def note_stale(operation: str) -> None:
    """Record that data of ``operation`` in this request's answer came stale from the cache."""
    opened = _current.get()
    if opened is not None:
        if opened.stale is None:
            opened.stale = set()
        opened.stale.add(operation)
        if opened.screen is not None:
            opened.screen.cacheable = False


def note_degraded() -> None:
    """Record that a section of this request's answer fell back to its default."""
    opened = _current.get()
    if opened is not None:
        opened.degraded = True


def stale_data() -> list[str]:
    """Operations whose data this request served stale, sorted."""
    opened = _current.get()
    return [] if opened is None or not opened.stale else sorted(opened.stale)


def screen_record() -> ScreenRecord | None:
    """The record of the screen this request renders for the screen cache, if any."""
    opened = _current.get()
    return None if opened is None else opened.screen


__all__ = [
    "RequestContext",
    "ScreenRecord",
    "close_request",
    "current_request",
    "current_request_id",
    "note_degraded",
    "note_stale",
    "open_request",
    "screen_record",
    "stale_data",
]
