"""Both transports against real misbehaving sockets on loopback: each failure becomes
the same TransportError, so a unit test on the httpx seam sees what production's aiohttp
transport would raise. Which transport the settings build is pinned at the end."""

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from shared.errors import TransportConnectError, TransportProtocolError, TransportTimeout
from shared.http import Transport, create_transport
from shared.http.aiohttp_transport import AiohttpTransport
from shared.http.httpx_transport import HttpxTransport
from shared.settings import HttpSettings

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["aiohttp", "httpx-seam"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    chosen: Transport = (
        AiohttpTransport()
        if request.param == "aiohttp"
        else HttpxTransport(transport=httpx.AsyncHTTPTransport(trust_env=False))
    )
    yield chosen
    await chosen.aclose()


async def serve(behaviour: Behaviour) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/x"


async def send(transport: Transport, url: str, timeout: float = 0.3) -> object:
    return await transport.send(
        "GET", url, params=None, headers={}, body=None, connect_timeout=timeout, timeout=timeout
    )


async def test_a_complete_answer_is_returned_whole(transport: Transport) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Served-Region: a\r\n\r\n{"ok":true}')
        await writer.drain()

    server, url = await serve(answer)
    async with server:
        response = await send(transport, url)
    assert response.status == 200  # type: ignore[attr-defined]
    assert response.body == b'{"ok":true}'  # type: ignore[attr-defined]
    assert response.headers["x-served-region"] == "a"  # type: ignore[attr-defined]


async def test_refused_connection_is_a_connect_error(transport: Transport) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportConnectError):
        await send(transport, f"http://127.0.0.1:{port}/x")


async def test_a_silent_server_is_a_timeout(transport: Transport) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server, url = await serve(never_answer)
    async with server:
        with pytest.raises(TransportTimeout):
            await send(transport, url, timeout=0.2)


async def test_a_slow_dripping_body_still_ends_at_the_timeout(transport: Transport) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    server, url = await serve(drip)
    async with server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TransportTimeout):
            await send(transport, url, timeout=0.3)
        assert loop.time() - started < 2.0


async def test_a_connection_dropped_mid_answer_is_a_protocol_error(transport: Transport) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()

    server, url = await serve(drop)
    async with server:
        with pytest.raises(TransportProtocolError):
            await send(transport, url)


async def test_the_settings_build_the_aiohttp_transport_with_their_pool_limits() -> None:
    built = create_transport(HttpSettings(max_connections=7, keepalive_seconds=3.0))
    assert isinstance(built, AiohttpTransport)
    try:
        session = built._client()
        assert session.connector is not None
        assert session.connector.limit == 7
    finally:
        await built.aclose()


async def test_the_httpx_seam_sends_through_the_transport_it_is_given() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b"{}")

    seam = HttpxTransport(transport=httpx.MockTransport(answer))
    try:
        response = await seam.send(
            "POST",
            "http://upstream/x",
            params={"a": "1"},
            headers={"x-k": "v"},
            body=b"{}",
            connect_timeout=1,
            timeout=1,
        )
    finally:
        await seam.aclose()
    assert response.status == 201
    assert [(r.method, str(r.url), r.headers["x-k"]) for r in seen] == [("POST", "http://upstream/x?a=1", "v")]
