"""Serve ASGI apps on loopback sockets with uvicorn, in the foreground or a thread.

Several apps share ONE event loop (uvloop when installed), each on its own socket. We
bind the sockets ourselves, so the real port of every app is known before any server
starts, even with port 0 (ephemeral).

``ServerThread`` runs the loop in a daemon thread, for tests and local tooling::

    with ServerThread({"catalog-eu": app_eu, "catalog-us": app_us}) as servers:
        httpx.get(servers.url("catalog-eu") + "/_health")

``serve_apps`` runs the same servers in the current loop until cancelled or until
SIGINT / SIGTERM, for a command line that serves in the foreground.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

from shared.listeners import bind_socket

__all__ = ["ServerStartupError", "ServerThread", "serve_apps"]

LifespanMode = Literal["auto", "on", "off"]

# Longer than any load balancer's idle timeout in front of us (AWS ALB: 60 s), so the
# server never closes a keep-alive connection that a client is about to reuse.
KEEP_ALIVE_TIMEOUT_S = 75


class ServerStartupError(RuntimeError):
    """A server did not start: its lifespan startup failed or it was not up in time."""


class _GroupedServer(uvicorn.Server):
    """A uvicorn server that reports its startup and leaves signals to its owner.

    uvicorn installs process-wide signal handlers per server; with several servers in
    one loop they overwrite each other, so ``serve_apps`` handles signals once for all.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _ServerGroup:
    """Bound sockets and one uvicorn server per app, served together in one loop."""

    def __init__(
        self,
        apps: Mapping[str, ASGIApp],
        host: str,
        ports: Mapping[str, int] | None,
        *,
        lifespan: LifespanMode,
        graceful_shutdown_s: int,
        on_all_started: Callable[[], None] = lambda: None,
        sockets: Mapping[str, Sequence[socket.socket]] | None = None,
    ) -> None:
        ports = dict(ports or {})
        bound = dict(sockets or {})
        # The group owns sockets it was given from here on: it closes them, even on error.
        self.sockets: dict[str, list[socket.socket]] = {name: list(socks) for name, socks in bound.items()}
        self.servers: dict[str, uvicorn.Server] = {}
        self.host = host
        self._on_all_started = on_all_started
        self._starting = len(apps)
        try:
            for given, what in ((ports, "ports"), (bound, "sockets")):
                unknown = sorted(set(given) - set(apps))
                if unknown:
                    raise ValueError(f"{what} given for unknown apps {unknown}; known apps: {sorted(apps)}")
            for name, app in apps.items():
                if name in bound:
                    if not bound[name]:
                        raise ValueError(f"app {name!r} is given an empty list of sockets")
                else:
                    port = ports.get(name, 0)
                    try:
                        self.sockets[name] = [bind_socket(host, port)]
                    except OSError as exc:
                        raise OSError(
                            exc.errno,
                            f"cannot bind app {name!r} to {host}:{port}: {exc.strerror}",
                        ) from exc
                config = uvicorn.Config(
                    app,
                    lifespan=lifespan,
                    log_level="warning",
                    # Leave the process's logging configuration alone (tests capture
                    # logs; a CLI configures its own).
                    log_config=None,
                    access_log=False,
                    # uvicorn would take X-Forwarded-For from 127.0.0.1 as the client; shared.forwarded
                    # does, only from server.trusted_proxies.
                    proxy_headers=False,
                    # Our apps speak HTTP only; "none" avoids importing websockets.
                    ws="none",
                    timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S,
                    timeout_graceful_shutdown=graceful_shutdown_s,
                )
                self.servers[name] = _GroupedServer(config, self._server_started)
        except BaseException:
            self.close_sockets()
            raise

    def port(self, name: str) -> int:
        port: int = self._first_socket(name).getsockname()[1]
        return port

    def url(self, name: str) -> str:
        host: str = self._first_socket(name).getsockname()[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port(name)}"

    def _first_socket(self, name: str) -> socket.socket:
        try:
            return self.sockets[name][0]
        except KeyError:
            raise KeyError(f"no app named {name!r}; known apps: {sorted(self.sockets)}") from None

    @property
    def all_started(self) -> bool:
        return all(server.started for server in self.servers.values())

    def _server_started(self) -> None:
        self._starting -= 1
        if self._starting == 0:
            self._on_all_started()

    def request_exit(self, *, force: bool = False) -> None:
        """Ask every server to shut down (gracefully, or at once with ``force``)."""
        for server in self.servers.values():
            server.should_exit = True
            if force:
                server.force_exit = True

    def close_sockets(self) -> None:
        for socks in self.sockets.values():
            for sock in socks:
                sock.close()

    async def _serve_one(self, name: str) -> None:
        try:
            await self.servers[name].serve(sockets=self.sockets[name])
        except SystemExit as exc:
            # uvicorn calls sys.exit() when the app's lifespan startup fails; in a task
            # SystemExit would escape the event loop, so it becomes an ordinary error.
            raise ServerStartupError(f"app {name!r} failed to start (lifespan startup failed, see the log)") from exc

    async def serve(self) -> None:
        """Serve until every server exits; stop all if one fails or on cancel."""
        tasks = [asyncio.create_task(self._serve_one(name)) for name in self.servers]
        try:
            for finished in asyncio.as_completed(tasks):
                await finished
        except BaseException:
            self.request_exit()
            # Graceful shutdown of the others even when cancelled: they finish in-flight
            # requests (bounded by the graceful shutdown timeout), then close sockets.
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.close_sockets()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def serve_apps(
    apps: Mapping[str, ASGIApp],
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    *,
    lifespan: LifespanMode = "auto",
    graceful_shutdown_s: int = 10,
    on_started: Callable[[Mapping[str, str]], None] | None = None,
) -> None:
    """Serve ``apps`` in the running loop until cancelled, SIGINT or SIGTERM.

    ``ports`` maps app names to ports (missing or 0 = ephemeral). ``on_started`` is
    called once every server accepts connections, with each app's base URL (e.g. to
    print them). A second SIGINT skips the graceful shutdown.
    """

    def announce() -> None:
        if on_started is not None:
            on_started({name: group.url(name) for name in group.servers})

    group = _ServerGroup(
        apps, host, ports, lifespan=lifespan, graceful_shutdown_s=graceful_shutdown_s, on_all_started=announce
    )
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        already_exiting = all(server.should_exit for server in group.servers.values())
        group.request_exit(force=already_exiting and sig == signal.SIGINT)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # e.g. Windows
                loop.add_signal_handler(sig, on_signal, sig)
                handled.append(sig)

    try:
        await group.serve()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


class ServerThread:
    """Run ASGI apps on loopback sockets in one event loop in a daemon thread.

    ``start()`` returns once every server accepts connections; ``stop()`` shuts them
    down gracefully (in-flight requests finish, bounded by ``graceful_shutdown_s``) and
    joins the thread. Use it as a context manager::

        with ServerThread({"orders-eu": app}) as servers:
            base_url = servers.url("orders-eu")  # "http://127.0.0.1:43123"

    ``sockets`` serves an app on sockets bound already instead, all of them by one
    server (a BFF's public and admin listeners, ``shared.listeners``); ``url`` names the
    first. The ServerThread closes them.
    """

    def __init__(
        self,
        apps: Mapping[str, ASGIApp],
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        *,
        lifespan: LifespanMode = "auto",
        startup_timeout_s: float = 10.0,
        graceful_shutdown_s: int = 5,
        sockets: Mapping[str, Sequence[socket.socket]] | None = None,
    ) -> None:
        if not apps:
            raise ValueError("ServerThread needs at least one app to serve")
        self._apps = dict(apps)
        self._host = host
        self._ports = dict(ports or {})
        self._sockets = dict(sockets or {})
        self._lifespan: LifespanMode = lifespan
        self._startup_timeout_s = startup_timeout_s
        self._graceful_shutdown_s = graceful_shutdown_s
        self._group: _ServerGroup | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        # Set once every server is up, or once the thread has ended (startup failed).
        self._settled = threading.Event()

    @property
    def running(self) -> bool:
        """Whether the background thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def url(self, name: str) -> str:
        """The base URL of app ``name``, like ``http://127.0.0.1:43123``."""
        return self._started_group().url(name)

    def port(self, name: str) -> int:
        """The port app ``name`` listens on."""
        return self._started_group().port(name)

    @property
    def urls(self) -> dict[str, str]:
        """Every app's base URL by name (after ``start``)."""
        group = self._started_group()
        return {name: group.url(name) for name in group.servers}

    def _started_group(self) -> _ServerGroup:
        if self._group is None:
            raise RuntimeError("ServerThread is not started; call start() or use `with`")
        return self._group

    def start(self) -> None:
        """Bind the sockets, start serving, and block until every server is up.

        Raises ``OSError`` if a port cannot be bound and ``ServerStartupError`` if a
        server fails to start or is not up within ``startup_timeout_s``.
        """
        if self._group is not None:
            raise RuntimeError("ServerThread is already started; a ServerThread runs once")
        group = _ServerGroup(
            self._apps,
            self._host,
            self._ports,
            lifespan=self._lifespan,
            graceful_shutdown_s=self._graceful_shutdown_s,
            on_all_started=self._settled.set,
            sockets=self._sockets,
        )
        self._group = group
        names = ", ".join(sorted(self._apps))
        self._thread = threading.Thread(target=self._run, name=f"ServerThread({names})", daemon=True)
        self._thread.start()

        if not self._settled.wait(self._startup_timeout_s):
            self.stop()
            waiting = sorted(name for name, server in group.servers.items() if not server.started)
            raise ServerStartupError(f"servers {waiting} not up within {self._startup_timeout_s} s")
        if not group.all_started:
            self._thread.join()
            raise ServerStartupError(f"servers for {names} exited during startup") from self._error

    def _run(self) -> None:
        assert self._group is not None
        try:
            with asyncio.Runner(loop_factory=_new_event_loop) as runner:
                runner.run(self._group.serve())
        except BaseException as exc:
            # A thread has nobody to raise to; start() reports it.
            self._error = exc
            self._group.close_sockets()
        finally:
            self._settled.set()

    def stop(self, timeout_s: float | None = None) -> None:
        """Shut every server down gracefully and join the thread.

        If the thread is still alive after ``timeout_s`` (default: the graceful shutdown
        timeout plus a margin), open connections are abandoned.
        """
        if self._group is None or self._thread is None:
            return
        self._group.request_exit()
        if timeout_s is None:
            timeout_s = self._graceful_shutdown_s + 5.0
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._group.request_exit(force=True)
            self._thread.join(5.0)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
