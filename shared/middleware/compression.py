"""Gzip for clients that accept it, and nothing in the way of those that do not.

Starlette's ``GZipMiddleware`` wraps every response, even for a client that sent no
``Accept-Encoding: gzip``: it parses the response headers into objects and holds the
start message back until the body is known. Mobile clients and gateways that
decompress do not ask for gzip, so for them this passes the response straight through,
adding only ``Vary: Accept-Encoding`` (the answer would differ for a client that did ask).
A client that asks gets the same pass-through when the answer declares a Content-Length
under ``minimum_size`` (a probe, a 304, a small problem), which Starlette would not
compress either; anything else goes through Starlette's gzip responder.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware as StarletteGZipMiddleware
from starlette.middleware.gzip import GZipResponder

from shared.types import Message, Receive, Scope, Send

VARY = (b"vary", b"Accept-Encoding")


class GZipMiddleware(StarletteGZipMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepts_gzip = False
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accepts_gzip = b"gzip" in value
                break
        minimum_size = self.minimum_size if accepts_gzip else -1
        compressing: GZipResponder | None = None

        async def send_gzipped_or_with_vary(message: Message) -> None:
            nonlocal compressing
            if compressing is not None:
                await compressing.send_with_compression(message)
                return
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                has_vary = False
                small = minimum_size < 0
                for name, value in headers:
                    lowered = name.lower()
                    if lowered == b"vary":
                        has_vary = True
                    elif lowered == b"content-length" and not small:
                        small = value.isdigit() and int(value) < minimum_size
                if not small:  # a body to compress, maybe: Starlette's responder decides
                    compressing = self._responder()
                    compressing.send = send
                    await compressing.send_with_compression(message)
                    return
                if not has_vary:
                    message["headers"] = [*headers, VARY]
            await send(message)

        await self.app(scope, receive, send_gzipped_or_with_vary)

    def _responder(self) -> GZipResponder:
        return GZipResponder(
            self.app,
            self.minimum_size,
            compresslevel=self.compresslevel,
            thread_minimum_size=self.thread_minimum_size,
            exclude_content_types=self.exclude_content_types,
        )


__all__ = ["GZipMiddleware"]
