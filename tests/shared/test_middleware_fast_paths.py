"""The middleware's fast paths answer exactly as the slow paths they skip."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware as StarletteCORSMiddleware

from shared.errors import ContentTooLarge
from shared.middleware.body_limit import BodyLimitMiddleware
from shared.middleware.compression import GZipMiddleware
from shared.middleware.cors import CORSMiddleware
from shared.middleware.security import SecurityHeadersMiddleware
from shared.types import ASGIApp, Message, Receive, Scope, Send


def _scope(headers: list[tuple[bytes, bytes]], method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": "/v1/thing",
        "headers": [(b"host", b"bff.example"), *headers],
    }


def _answer(body: bytes, headers: list[tuple[bytes, bytes]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start_headers = [(b"content-length", str(len(body)).encode()), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start_headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def _run(app: ASGIApp, scope: dict[str, Any], receive: Receive | None = None) -> list[Message]:
    sent: list[Message] = []

    async def nothing() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive or nothing, send)
    return sent


def _headers(message: Message) -> list[tuple[bytes, bytes]]:
    return [(bytes(name).lower(), bytes(value)) for name, value in message["headers"]]


@pytest.mark.parametrize("vary", [[], [(b"vary", b"Accept-Encoding")], [(b"vary", b"Cookie"), (b"vary", b"X-A")]])
async def test_cors_without_an_origin_varies_as_starlette_would(vary: list[tuple[bytes, bytes]]) -> None:
    ours = CORSMiddleware(_answer(b"{}", vary), allow_origins=["https://shop.example"])
    theirs = StarletteCORSMiddleware(_answer(b"{}", vary), allow_origins=["https://shop.example"])
    [our_start, _] = await _run(ours, _scope([]))
    [their_start, _] = await _run(theirs, _scope([]))
    assert sorted(_headers(our_start)) == sorted(_headers(their_start))


async def test_cors_with_an_origin_is_starlettes() -> None:
    app = CORSMiddleware(_answer(b"{}", []), allow_origins=["https://shop.example"])
    [start, _] = await _run(app, _scope([(b"origin", b"https://shop.example")]))
    assert (b"access-control-allow-origin", b"https://shop.example") in _headers(start)


async def test_gzip_passes_a_small_declared_body_through_with_vary() -> None:
    app = GZipMiddleware(_answer(b"x" * 100, []), minimum_size=1024)
    [start, body] = await _run(app, _scope([(b"accept-encoding", b"gzip")]))
    assert (b"vary", b"Accept-Encoding") in _headers(start)
    assert b"content-encoding" not in dict(_headers(start))
    assert body["body"] == b"x" * 100


async def test_gzip_compresses_a_large_body_for_a_client_that_accepts_it() -> None:
    app = GZipMiddleware(_answer(b"x" * 4096, [(b"content-type", b"application/json")]), minimum_size=1024)
    sent = await _run(app, _scope([(b"accept-encoding", b"gzip")]))
    headers = dict(_headers(sent[0]))
    assert headers[b"content-encoding"] == b"gzip"
    assert b"Accept-Encoding" in headers[b"vary"]
    assert len(b"".join(message.get("body", b"") for message in sent[1:])) < 4096


async def test_gzip_sends_identity_and_vary_to_a_client_that_does_not_accept_it() -> None:
    app = GZipMiddleware(_answer(b"x" * 4096, []), minimum_size=1024)
    [start, body] = await _run(app, _scope([]))
    assert (b"vary", b"Accept-Encoding") in _headers(start)
    assert body["body"] == b"x" * 4096


async def test_a_bodiless_get_reaches_the_app_with_the_servers_own_receive() -> None:
    seen: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(receive)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await _run(BodyLimitMiddleware(app, max_body_bytes=10), _scope([]), receive)
    assert seen == [receive]


async def test_a_chunked_body_is_still_counted_against_the_limit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"x" * 11, "more_body": True}

    scope = _scope([(b"transfer-encoding", b"chunked")], method="POST")
    with pytest.raises(ContentTooLarge, match="must not exceed 10 bytes"):
        await _run(BodyLimitMiddleware(app, max_body_bytes=10), scope, receive)


@pytest.mark.parametrize(
    ("content_type", "csp"), [(b"application/json", True), (b"text/html; charset=utf-8", False), (None, True)]
)
async def test_security_headers_add_the_csp_to_all_but_html(content_type: bytes | None, csp: bool) -> None:
    app = SecurityHeadersMiddleware(
        _answer(b"{}", [] if content_type is None else [(b"content-type", content_type)]), max_header_bytes=8192
    )
    [start, _] = await _run(app, _scope([]))
    names = [name for name, _ in _headers(start)]
    assert names.count(b"x-content-type-options") == 1
    assert (b"content-security-policy" in names) is csp


@pytest.mark.parametrize("hosts", [[], [(b"host", b"a.example"), (b"host", b"b.example")], [(b"host", b"bad host")]])
async def test_security_headers_refuse_a_missing_repeated_or_malformed_host(hosts: list[tuple[bytes, bytes]]) -> None:
    scope = _scope([])
    scope["headers"] = hosts
    [start, _] = await _run(SecurityHeadersMiddleware(_answer(b"{}", []), max_header_bytes=8192), scope)
    assert start["status"] == 400
    assert (b"x-frame-options", b"DENY") in _headers(start)
