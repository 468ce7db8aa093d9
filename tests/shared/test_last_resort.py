"""An exception nobody handled still answers a problem+json 500 with the request id and the
security headers (Starlette's own 500 sits outside both layers and would carry neither)."""

import httpx
import pytest

from shared.middleware.last_resort import LastResortMiddleware
from shared.middleware.request_id import RequestIdMiddleware
from shared.middleware.security import SecurityHeadersMiddleware
from shared.types import Message, Receive, Scope, Send
from tests.support import Standins, mobile_settings


async def failing(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug below every handler")


async def failing_midway(scope: Scope, receive: Receive, send: Send) -> None:
    start: Message = {"type": "http.response.start", "status": 200, "headers": []}
    await send(start)
    raise RuntimeError("a bug after the answer started")


def stack(app: object) -> httpx.AsyncClient:
    wrapped = RequestIdMiddleware(SecurityHeadersMiddleware(LastResortMiddleware(app), max_header_bytes=8192))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://bff")


async def test_an_unhandled_exception_is_a_problem_500_with_request_id_and_security_headers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with stack(failing) as client:
        answer = await client.get("/v1/anything", headers={"X-Request-Id": "req-42"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith(":internal")
    assert "a bug" not in answer.text
    assert answer.headers["x-request-id"] == "req-42"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert [record.exc_info is not None for record in caplog.records if record.name == "bff.errors"] == [True]


async def test_an_exception_after_the_answer_started_goes_on_to_the_server() -> None:
    async with stack(failing_midway) as client:
        with pytest.raises(RuntimeError, match="after the answer started"):
            await client.get("/")


def test_the_processes_put_the_last_resort_inside_the_request_id_and_security_layers(standins: Standins) -> None:
    from bff_mobile.app import create_app

    order: list[object] = [entry.cls for entry in create_app(mobile_settings(standins), environ={}).user_middleware]
    assert order.index(RequestIdMiddleware) < order.index(LastResortMiddleware)
    assert order.index(SecurityHeadersMiddleware) < order.index(LastResortMiddleware)
    assert order.index(LastResortMiddleware) < 4  # outside auth, rate limits and every handler
