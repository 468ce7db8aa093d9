"""The gate between the public and the admin listener, in process: ASGITransport puts the
request URL's host and port in ``scope["server"]``, as uvicorn puts the listening socket's."""

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.listeners import ListenerGate, Listeners
from shared.settings import AdminSettings, ServerSettings


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


APP = Starlette(routes=[Route("/{path:path}", ok)])


@pytest.fixture
def bound() -> Iterator[Listeners]:
    listeners = Listeners(ServerSettings(port=0), AdminSettings(port=0))
    sockets = listeners.bind()
    yield listeners
    for sock in sockets:
        sock.close()


async def status(listeners: Listeners, base_url: str, path: str) -> int:
    transport = httpx.ASGITransport(app=ListenerGate(APP, listeners))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return (await client.get(path)).status_code


@pytest.mark.parametrize(
    ("path", "public", "admin"),
    [
        ("/admin/config", 404, 200),
        ("/admin", 404, 200),
        ("/administrator", 200, 404),
        ("/v1/home", 200, 404),
        ("/openapi.json", 200, 404),
        ("/livez", 200, 200),
        ("/readyz", 200, 200),
        ("/metrics", 200, 200),
    ],
)
async def test_each_listener_serves_its_own_paths(bound: Listeners, path: str, public: int, admin: int) -> None:
    assert await status(bound, bound.public_url, path) == public
    assert await status(bound, bound.admin_url, path) == admin


async def test_unbound_listeners_serve_the_admin_api_nowhere() -> None:
    listeners = Listeners(ServerSettings(port=8080), AdminSettings(port=9080))
    assert await status(listeners, "http://127.0.0.1:9080", "/admin/config") == 404
    assert await status(listeners, "http://127.0.0.1:8080", "/v1/home") == 200


async def test_admin_on_the_public_port_serves_everything_there() -> None:
    listeners = Listeners(ServerSettings(port=0), AdminSettings(port=None))
    (sock,) = listeners.bind()
    try:
        assert listeners.admin_url == listeners.public_url
        assert await status(listeners, listeners.public_url, "/admin/config") == 200
        assert await status(listeners, listeners.public_url, "/v1/home") == 200
    finally:
        sock.close()


def test_an_address_in_use_names_its_key() -> None:
    first = Listeners(ServerSettings(port=0), AdminSettings(port=0))
    sockets = first.bind()
    try:
        taken = sockets[1].getsockname()[1]
        second = Listeners(ServerSettings(port=0), AdminSettings(port=taken))
        sockets[1].listen()
        with pytest.raises(OSError, match=r"admin\.host/admin\.port"):
            second.bind()
    finally:
        for sock in sockets:
            sock.close()
