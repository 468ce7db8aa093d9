"""Response hardening and request header limits, as pure ASGI.

Every answer carries headers that stop browsers from sniffing, framing or leaking the
referrer; JSON answers also get a Content-Security-Policy that allows nothing (GraphiQL's
HTML page keeps its own). Requests whose headers exceed ``max_header_bytes`` in all get
431 before any handler runs.
"""

from __future__ import annotations

from shared.problems import problem
from shared.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if size > self.max_header_bytes:
            response = problem(
                431,
                "request-header-fields-too-large",
                "Request header fields too large",
                f"the request headers total {size} bytes; at most {self.max_header_bytes} are accepted",
            )
            await response(scope, receive, self._hardened(send))
            return
        await self.app(scope, receive, self._hardened(send))

    @staticmethod
    def _hardened(send: Send) -> Send:
        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                headers += HEADERS
                if not content_type.startswith(b"text/html"):
                    headers.append(JSON_CSP)
                message["headers"] = headers
            await send(message)

        return send_hardened


__all__ = ["SecurityHeadersMiddleware"]
