"""Refuse request bodies over a size limit with a 413 problem, before reading them whole.

A declared Content-Length over the limit is refused at once; a chunked body is counted
as it arrives and refused when it crosses the limit. (Starlette's own limit answers in
plain text, not problem+json, so we keep this one.)
"""

from __future__ import annotations

from shared.errors import ContentTooLarge
from shared.problems import problem
from shared.types import ASGIApp, Message, Receive, Scope, Send

_HTTP1 = frozenset({"1.0", "1.1"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    chunked = True  # unreadable: count what arrives instead
                break
            if name == b"transfer-encoding":
                chunked = True
        if declared is not None and declared > limit:
            response = problem(413, ContentTooLarge.type_slug, ContentTooLarge.title, _detail(limit))
            await response(scope, receive, send)
            return
        if declared is None and not chunked and scope.get("http_version", "1.1") in _HTTP1:
            # Neither Content-Length nor Transfer-Encoding: an HTTP/1.x request without a
            # body (RFC 9112 section 6.3), such as nearly every GET. Nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ContentTooLarge(_detail(limit), field="body")
            return message

        await self.app(scope, counting_receive, send)


def _detail(limit: int) -> str:
    return f"the request body must not exceed {limit} bytes"
