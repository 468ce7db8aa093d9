"""Response hardening and request header limits, as pure ASGI.

Every answer carries headers that stop browsers from sniffing, framing or leaking the
referrer; JSON answers also get a Content-Security-Policy that allows nothing (GraphiQL's
HTML page keeps its own). Requests whose headers exceed ``max_header_bytes`` in all get
431 before any handler runs; an HTTP/1.1 request without a ``Host`` header, any request
with two, or one whose ``Host`` is not a host[:port] gets 400 (RFC 9112 section 3.2, which
the HTTP parser, httptools, does not enforce).
"""

from __future__ import annotations

import re

from shared.problems import problem
from shared.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
#: RFC 9110 section 7.2: uri-host [ ":" port ], the host an IP literal, IPv4 or reg-name (may be empty).
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?")


#: What an answer gets, precomputed so that hardening one is a single list concatenation.
HTML_HEADERS = tuple(HEADERS)
JSON_HEADERS = (*HEADERS, JSON_CSP)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                added = JSON_HEADERS
                for name, value in headers:
                    if name == b"content-type" or name.lower() == b"content-type":
                        if value.startswith(b"text/html"):
                            added = HTML_HEADERS
                        break
                message["headers"] = [*headers, *added]
            await send(message)

        size = 0
        host = None
        hosts = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == b"host":
                host = value
                hosts += 1
        if size > self.max_header_bytes:
            response = problem(
                431,
                "request-header-fields-too-large",
                "Request header fields too large",
                f"the request headers total {size} bytes; at most {self.max_header_bytes} are accepted",
            )
            await response(scope, receive, send_hardened)
            return
        # The common case, one well-formed Host, decided here without building the list.
        if not (hosts == 1 and _HOST.fullmatch(host or b"") is not None):
            all_hosts = [value for name, value in scope["headers"] if name == b"host"]
            wrong_host = _host_problem(all_hosts, scope.get("http_version", "1.1"))
            if wrong_host is not None:
                await problem(400, "bad-request", "Bad request", wrong_host)(scope, receive, send_hardened)
                return
        await self.app(scope, receive, send_hardened)


def _host_problem(hosts: list[bytes], http_version: str) -> str | None:
    """What is wrong with the request's ``Host`` lines, or ``None``."""
    if len(hosts) > 1 or (not hosts and http_version == "1.1"):
        return f"send exactly one Host header naming the server (host or host:port), got {len(hosts)}"
    if hosts and _HOST.fullmatch(hosts[0]) is None:
        return f"the Host header must be host or host:port, got {hosts[0][:60].decode('latin-1')!r}"
    return None


__all__ = ["SecurityHeadersMiddleware"]
