"""CORS, as Starlette's ``CORSMiddleware`` answers it, with a fast path for the requests
that are not a browser's cross-origin ones: no ``Origin`` header (mobile apps, gateways,
probes). Starlette parses the request and response headers into objects for each of them
only to add ``Vary: Origin``; this adds it to the raw header list, the same value it would
write (every ``Vary`` merged into one line, ``Origin`` last). Requests with an ``Origin``
(preflights included) are Starlette's, unchanged."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware as StarletteCORSMiddleware

from shared.types import Message, Receive, Scope, Send


class CORSMiddleware(StarletteCORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, _ in scope["headers"]:
                if name == b"origin":
                    break
            else:
                await self.app(scope, receive, _varying_on_origin(send))
                return
        await super().__call__(scope, receive, send)


def _varying_on_origin(send: Send) -> Send:
    async def send_varying_on_origin(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = []
            varies = []
            for name, value in message.get("headers", ()):
                if name == b"vary":
                    varies.append(value)
                else:
                    kept.append((name, value))
            varies.append(b"Origin")
            kept.append((b"vary", b", ".join(varies)))
            message["headers"] = kept
        await send(message)

    return send_varying_on_origin


__all__ = ["CORSMiddleware"]
