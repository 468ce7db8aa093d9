"""What the middleware stack costs per request, counted in Python function calls (never
timed: a count is the same on a loaded machine) for ``GET /livez`` driven as one raw ASGI
call through bff_mobile's whole stack, with every layer that production runs."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest
from starlette.applications import Starlette

from bff_mobile.app import create_app
from bff_mobile.settings import MobileSettings
from shared.types import Message
from tests.support import get_scope

#: Measured at 61 after issue 14's fast paths, for each of the requests below (88 before,
#: 112 for a client accepting gzip). About 30 of them are Starlette's own (error and
#: exception middleware, routing, the response) and the /livez handler's, 2 the raw call's
#: send. Raise it only with a reason.
MAX_CALLS_PER_LIVEZ = 64


@pytest.fixture(scope="module")
def app() -> Starlette:
    # Every layer on: telemetry, CORS, rate limiting, tokens, the admin listener apart.
    settings = MobileSettings.model_validate(
        {"server": {"cors_origins": ["https://shop.example"]}, "rate_limit": {"enabled": True}, "admin": {"port": 0}}
    )
    return create_app(settings, environ={})


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return get_scope("/livez", [(b"host", b"bff.example"), *headers], state={})


async def _livez(app: Starlette, headers: list[tuple[bytes, bytes]]) -> tuple[int, list[Message]]:
    """One ``GET /livez``; the Python calls it made and the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    scope = _scope(headers)
    await app(_scope(headers), receive, send)  # warm: the stack is built on the first request
    sent.clear()
    sys.setprofile(count)
    try:
        await app(scope, receive, send)
    finally:
        sys.setprofile(None)
    return calls, sent


@pytest.mark.parametrize(
    "headers",
    [[], [(b"accept-encoding", b"gzip, deflate, br")], [(b"x-request-id", b"probe-1")]],
    ids=["plain", "accepting-gzip", "with-request-id"],
)
async def test_a_livez_request_through_the_whole_stack_stays_under_its_call_count(
    app: Starlette, headers: list[tuple[bytes, bytes]]
) -> None:
    calls, _ = await _livez(app, headers)
    assert calls <= MAX_CALLS_PER_LIVEZ, f"{calls} Python calls per /livez (bound {MAX_CALLS_PER_LIVEZ})"


async def test_the_counted_livez_answer_is_complete(app: Starlette) -> None:
    """The count is of a real answer: request id, hardening headers and Vary all there."""
    _, sent = await _livez(app, [(b"x-request-id", b"probe-2"), (b"accept-encoding", b"gzip")])
    start = sent[0]
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert headers[b"x-request-id"] == b"probe-2"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"content-security-policy"].startswith(b"default-src 'none'")
    assert b"Accept-Encoding" in headers[b"vary"]
    assert b"content-encoding" not in headers  # too small to compress
