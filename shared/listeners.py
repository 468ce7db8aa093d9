"""Where a process listens: the public listener and, apart from it, the admin listener.

The admin API (``/admin``) has its own listener by default, ``admin.host:admin.port``
(loopback; 9080 for bff_mobile, 9081 for bff_web), beside the public
``server.host:server.port``. Both are sockets of ONE uvicorn server in one event loop, so
the lifespan, readiness and the graceful drain (``shared.serving``) cover both at once.
``admin.port: null`` serves ``/admin`` on the public listener instead, still behind the
token: an explicit opt-in.

``ListenerGate`` tells the listeners apart by the local port a request arrived on (ASGI
``scope["server"]``): the settings refuse equal ports, and ``Listeners.bind`` records the
bound ones, so port 0 (ephemeral, in tests) works too.

::

    path                        public listener             admin listener
    /admin/...                  404, as any unknown path    served (behind the token)
    /livez /readyz /metrics     served                      served
    anything else               served                      404

``build_app`` puts the gate in the middleware list and the listeners in ``app.state``;
``bff serve`` binds them and hands both sockets to one server (``shared.serving``)::

    listeners: Listeners = app.state.listeners
    server.run(sockets=listeners.bind())      # [public, admin]
"""

from __future__ import annotations

import socket

from shared.problems import problem
from shared.settings import AdminSettings, ServerSettings
from shared.types import ASGIApp, Receive, Scope, Send


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: ephemeral), not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets it recognises as TCP,
    # and without it every kept-alive request after the first waited ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Lets a fixed port be rebound right after a restart (sockets in TIME_WAIT).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


ADMIN_PREFIX = "/admin"
#: Answered on both listeners: probes, and the scrape of one pod reached by port-forward.
OPERATIONAL_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
_ADMIN_PATHS = ADMIN_PREFIX + "/"


class Listeners:
    """The addresses a process listens on, from its settings, and the sockets once bound."""

    def __init__(self, server: ServerSettings, admin: AdminSettings) -> None:
        self.public_address = (server.host, server.port)
        self.admin_address = None if admin.port is None else (admin.host, admin.port)
        self._sockets: dict[str, socket.socket] = {}
        #: The admin socket's bound port once bound, else ``None``; read per request by the
        #: gate (no syscall on the hot path). Set by ``bind`` only.
        self.admin_port: int | None = None

    @property
    def separate(self) -> bool:
        """Whether /admin has its own listener (``admin.port`` is not null)."""
        return self.admin_address is not None

    def bind(self, *, ephemeral: bool = False) -> list[socket.socket]:
        """Bind the public socket, then the admin one if separate; ``ephemeral`` binds both
        to port 0 (tests serving several processes at once). The caller serves (and so
        closes) them. Raises ``OSError`` naming the config key of an address it cannot bind."""
        if self._sockets:
            raise RuntimeError("these listeners are bound already; build a new app to serve again")
        wanted = {"server": self.public_address}
        if self.admin_address is not None:
            wanted["admin"] = self.admin_address
        try:
            for key, (host, port) in wanted.items():
                try:
                    self._sockets[key] = bind_socket(host, 0 if ephemeral else port)
                except OSError as exc:
                    raise OSError(
                        exc.errno, f"cannot listen on {host}:{port} ({key}.host/{key}.port): {exc.strerror}"
                    ) from exc
        except OSError:
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()
            raise
        if "admin" in self._sockets:
            self.admin_port = int(self._sockets["admin"].getsockname()[1])
        return list(self._sockets.values())

    @property
    def public_url(self) -> str:
        """The public listener's base URL, like ``http://127.0.0.1:8080`` (once bound)."""
        return _url(self._bound("server"))

    @property
    def admin_url(self) -> str:
        """The admin listener's base URL (the public one with ``admin.port: null``)."""
        return _url(self._bound("admin" if self.separate else "server"))

    def _bound(self, key: str) -> socket.socket:
        try:
            return self._sockets[key]
        except KeyError:
            raise RuntimeError("the listeners are not bound yet; call bind() first") from None

    def on_admin_listener(self, scope: Scope) -> bool:
        """Whether the request of ``scope`` arrived on the admin listener."""
        server = scope.get("server")
        return self.admin_port is not None and server is not None and server[1] == self.admin_port


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ListenerGate:
    """Pure ASGI: what each listener serves (see the table in the module docstring).

    Unbound listeners (an app served some other way, or in-process in a test) count as
    public, so /admin is then answered nowhere rather than on the public port."""

    def __init__(self, app: ASGIApp, listeners: Listeners) -> None:
        self.app = app
        self.listeners = listeners
        #: Fixed by the settings (``admin.port`` null or not), so read once, not per request.
        self.separate = listeners.separate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.separate or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        admin_path = path == ADMIN_PREFIX or path.startswith(_ADMIN_PATHS)
        server = scope.get("server")
        admin_port = self.listeners.admin_port  # on_admin_listener, inlined: no call per request
        on_admin = admin_port is not None and server is not None and server[1] == admin_port
        if (admin_path or path in OPERATIONAL_PATHS) if on_admin else not admin_path:
            await self.app(scope, receive, send)
            return
        # The same answer as any unknown path: the public port does not tell that /admin exists.
        method = scope["method"]
        response = problem(404, "not-found", "Not found", f"no route for {method} {path}", instance=path)
        await response(scope, receive, send)


__all__ = ["ADMIN_PREFIX", "OPERATIONAL_PATHS", "ListenerGate", "Listeners", "bind_socket"]
