"""Gzip for clients that accept it, and nothing in the way of those that do not.

Starlette's ``GZipMiddleware`` wraps every response, even for a client that sent no
``Accept-Encoding: gzip``: it parses the response headers into objects and holds the
start message back until the body is known. Mobile clients and gateways that
decompress do not ask for gzip, so for them this passes the response straight through,
adding only ``Vary: Accept-Encoding`` (the answer would differ for a client that did ask).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware as StarletteGZipMiddleware

from shared.types import Message, Receive, Scope, Send

VARY = (b"vary", b"Accept-Encoding")


class GZipMiddleware(StarletteGZipMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _accepts_gzip(scope):
            await super().__call__(scope, receive, send)
            return

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if not any(name.lower() == b"vary" for name, _ in headers):
                    message["headers"] = [*headers, VARY]
            await send(message)

        await self.app(scope, receive, send_with_vary)


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False


__all__ = ["GZipMiddleware"]
