"""ServerThread and serve_apps: real uvicorn servers on loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from shared.cli.servers import ServerStartupError, ServerThread, serve_apps
from shared.listeners import bind_socket


def hello_app(text: str) -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(text)

    return Starlette(routes=[Route("/", hello)])


def failing_startup_app() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("database unreachable")
        yield

    return Starlette(lifespan=lifespan)


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_serves_each_app_on_its_own_port() -> None:
    with ServerThread({"a": hello_app("from a"), "b": hello_app("from b")}) as servers:
        answers = {name: httpx.get(servers.url(name)).text for name in ("a", "b")}
        ports = {servers.port("a"), servers.port("b")}

    assert answers == {"a": "from a", "b": "from b"}
    assert len(ports) == 2


def test_url_is_the_loopback_base_url() -> None:
    with ServerThread({"a": hello_app("hi")}) as servers:
        assert servers.url("a") == f"http://127.0.0.1:{servers.port('a')}"
        assert servers.urls == {"a": servers.url("a")}


def test_url_of_an_unknown_app_names_the_known_ones() -> None:
    with ServerThread({"a": hello_app("hi")}) as servers, pytest.raises(KeyError, match="known apps"):
        servers.url("b")


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        ServerThread({"a": hello_app("hi")}).url("a")


def test_start_returns_with_every_server_accepting_connections() -> None:
    servers = ServerThread({"a": hello_app("hi"), "b": hello_app("hi")})
    servers.start()
    try:
        assert servers.running
        assert not refuses_connections(servers.port("a"))
        assert not refuses_connections(servers.port("b"))
    finally:
        servers.stop()


def test_stop_closes_the_ports_and_ends_the_thread() -> None:
    servers = ServerThread({"a": hello_app("hi")})
    servers.start()
    port = servers.port("a")

    servers.stop()

    assert not servers.running
    assert refuses_connections(port)


def test_serves_on_a_fixed_port_when_asked() -> None:
    with socket.socket() as finder:
        finder.bind(("127.0.0.1", 0))
        free_port = finder.getsockname()[1]

    with ServerThread({"a": hello_app("hi")}, ports={"a": free_port}) as servers:
        assert servers.port("a") == free_port
        assert httpx.get(servers.url("a")).text == "hi"


def test_a_taken_port_fails_start_naming_the_app() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        servers = ServerThread({"catalog-eu": hello_app("hi")}, ports={"catalog-eu": taken.getsockname()[1]})

        with pytest.raises(OSError, match="catalog-eu"):
            servers.start()


def test_ports_for_unknown_apps_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown apps"):
        ServerThread({"a": hello_app("hi")}, ports={"b": 8000}).start()


def test_an_app_given_sockets_is_served_on_all_of_them_by_one_server() -> None:
    sockets = [bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)]
    ports = [sock.getsockname()[1] for sock in sockets]

    with ServerThread({"a": hello_app("hi")}, sockets={"a": sockets}) as servers:
        assert servers.port("a") == ports[0]
        assert [httpx.get(f"http://127.0.0.1:{port}/").text for port in ports] == ["hi", "hi"]

    assert all(refuses_connections(port) for port in ports)


def test_sockets_for_unknown_apps_are_rejected_and_closed() -> None:
    sock = bind_socket("127.0.0.1", 0)
    with pytest.raises(ValueError, match="unknown apps"):
        ServerThread({"a": hello_app("hi")}, sockets={"b": [sock]}).start()
    assert sock.fileno() == -1


def test_a_failing_lifespan_startup_fails_start() -> None:
    servers = ServerThread({"ok": hello_app("hi"), "broken": failing_startup_app()}, lifespan="on")

    with pytest.raises(ServerStartupError, match="exited during startup"):
        servers.start()
    assert not servers.running


def test_stop_lets_in_flight_requests_finish() -> None:
    request_started = threading.Event()

    async def slow(request: Request) -> Response:
        request_started.set()
        await asyncio.sleep(0.3)
        return PlainTextResponse("finished")

    servers = ServerThread({"slow": Starlette(routes=[Route("/", slow)])})
    servers.start()
    answers: list[str] = []
    caller = threading.Thread(target=lambda: answers.append(httpx.get(servers.url("slow"), timeout=5).text))
    caller.start()
    assert request_started.wait(5)

    servers.stop()
    caller.join(5)

    assert answers == ["finished"]


def test_needs_at_least_one_app() -> None:
    with pytest.raises(ValueError, match="at least one app"):
        ServerThread({})


def test_runs_once() -> None:
    servers = ServerThread({"a": hello_app("hi")})
    with servers, pytest.raises(RuntimeError, match="already started"):
        servers.start()


async def test_serve_apps_serves_until_cancelled() -> None:
    started: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(serve_apps({"a": hello_app("hi")}, on_started=started.set_result))
    urls = await asyncio.wait_for(started, timeout=5)
    async with httpx.AsyncClient() as client:
        answer = (await client.get(urls["a"])).text

    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving

    assert answer == "hi"
    assert refuses_connections(int(urls["a"].rsplit(":", 1)[1]))


async def test_serve_apps_shuts_down_gracefully_on_sigint() -> None:
    started = asyncio.Event()
    serving = asyncio.create_task(serve_apps({"a": hello_app("hi")}, on_started=lambda urls: started.set()))
    await asyncio.wait_for(started.wait(), timeout=5)

    signal.raise_signal(signal.SIGINT)

    await asyncio.wait_for(serving, timeout=5)
    assert serving.exception() is None
