"""The last resort: an exception no handler took becomes a problem+json 500 *inside* the
request id and security header layers, so even an unexpected failure answers with the
request id to quote and the hardened headers (Starlette's own ServerErrorMiddleware sits
outside every user middleware, and its answer would carry neither).

The error is logged here, with its traceback, under the request's id. When the answer had
already started, nothing can be sent any more: the exception goes on to the server,
which closes the connection.
"""

from __future__ import annotations

import logging

from shared.problems import internal_error
from shared.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("bff.errors")


class LastResortMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if started:
                raise
            route = getattr(scope.get("route"), "path", "unmatched")  # never the raw path: it may hold PII
            log.error("unhandled error on %s %s", scope.get("method"), route, exc_info=exc)
            await internal_error()(scope, receive, send)


__all__ = ["LastResortMiddleware"]
