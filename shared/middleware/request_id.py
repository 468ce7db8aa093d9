"""Request ids: accepted from the caller when well-formed, generated otherwise, echoed
in the response and available to the whole request through a context variable.

The same middleware opens the request's *report*: what the layers below note about the
answer (which upstream data was served stale from the cache), read back by screens.
Sections of a fan-out run as tasks that inherit this context, so they share the report."""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

from shared.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str] = ContextVar("request_id", default="")
_stale: ContextVar[set[str] | None] = ContextVar("stale_data", default=None)


def current_request_id() -> str:
    """The id of the request being served, or ``""`` outside one."""
    return _request_id.get()


def note_stale(operation: str) -> None:
    """Record that data of ``operation`` in this request's answer came stale from the cache."""
    stale = _stale.get()
    if stale is not None:
        stale.add(operation)


def stale_data() -> list[str]:
    """Operations whose data this request served stale, sorted."""
    return sorted(_stale.get() or ())


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        encoded = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _VALID.match(value):
                    encoded = value
                break
        if encoded is None:
            encoded = os.urandom(16).hex().encode("ascii")  # as random as a uuid4, without its objects
        token = _request_id.set(encoded.decode("ascii"))
        stale_token = _stale.set(set())
        id_header = (HEADER, encoded)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
            _stale.reset(stale_token)
