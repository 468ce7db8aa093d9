"""A real HAProxy in front of BFF instances: weighted stable/canary routing, health checks
on /readyz, retries of idempotent requests on connection failure, and weight changes
through HAProxy's runtime API (no reload, no dropped connection).

Each process gets a frontend on its public port and a backend with two server slots,
``stable`` and ``canary``; a request carrying ``X-Canary: always`` goes to the canary
(cohort routing for internal testers).

The gateway also enforces what the BFF's HTTP server (uvicorn) cannot, as
docs/sre-guide.md "What the gateway in front must enforce" lists: a deadline for a
request's headers (``timeout http-request``, so an unfinished request cannot hold a
connection), a client inactivity timeout, connection limits, a header size bound, one
``Host``; and it is the one writer of ``X-Forwarded-For`` (a client's own is dropped),
which the BFF believes from ``server.trusted_proxies`` only."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HAPROXY = "haproxy"
#: A request's headers must all arrive within this (slowloris), and then its body.
HEADER_TIMEOUT = "5s"
#: Total connections the gateway holds, and per public frontend.
MAX_CONNECTIONS = 4096
FRONTEND_MAX_CONNECTIONS = 2000


@dataclass(frozen=True, slots=True)
class Route:
    """One process behind the gateway: its public port and the two instance slots."""

    name: str
    public_port: int
    stable_port: int
    canary_port: int


def render_config(routes: list[Route], admin_socket: Path, host: str = "127.0.0.1") -> str:
    lines = [
        "global",
        f"    stats socket {admin_socket} mode 600 level admin",
        f"    maxconn {MAX_CONNECTIONS}",
        # A request's headers must fit one buffer less the rewrite reserve (about 15 KiB,
        # the BFF's server.max_header_bytes is 16 KiB): larger ones get 400 here.
        "    tune.bufsize 16384",
        "    tune.maxrewrite 1024",
        "    tune.http.maxhdr 100",
        "",
        "defaults",
        "    mode http",
        "    option httplog",
        "    timeout connect 1s",
        # Headers (and the body, with http-buffer-request) within HEADER_TIMEOUT of the
        # connection or of the previous response; else the connection is closed (408).
        f"    timeout http-request {HEADER_TIMEOUT}",
        "    option http-buffer-request",
        # A client that stops reading or writing mid-exchange.
        "    timeout client 30s",
        "    timeout server 30s",
        # Below the BFF's keep-alive (75 s): the gateway closes idle connections first.
        "    timeout http-keep-alive 30s",
        # A health check answered late is not a dead server: a busy process may take a
        # moment to answer /readyz (without this the check's timeout is `inter`, 300 ms).
        "    timeout check 1s",
        "    retries 2",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout",
        "",
    ]
    for route in routes:
        lines += [
            f"frontend {route.name}",
            f"    bind {host}:{route.public_port}",
            f"    maxconn {FRONTEND_MAX_CONNECTIONS}",
            # RFC 9112 section 3.2: exactly one Host on HTTP/1.1, never two.
            "    http-request deny deny_status 400 if { req.hdr_cnt(host) gt 1 }",
            "    http-request deny deny_status 400 if HTTP_1.1 !{ req.hdr_cnt(host) eq 1 }",
            # The gateway is the only writer of the client's address: what a client sent
            # is dropped, and option forwardfor adds the connection's address.
            "    http-request del-header x-forwarded-for",
            "    http-request del-header forwarded",
            "    option forwardfor",
            f"    use_backend {route.name}_canary_only if {{ req.hdr(x-canary) -m str always }}",
            f"    default_backend {route.name}",
            "",
            f"backend {route.name}",
            "    balance roundrobin",
            # Only idempotent requests are retried (POST only with an Idempotency-Key).
            "    http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }",
            "    option httpchk GET /readyz",
            "    http-check expect status 200",
            "    default-server inter 300ms fall 2 rise 2",
            f"    server stable {host}:{route.stable_port} weight 100 check",
            f"    server canary {host}:{route.canary_port} weight 0 check",
            "",
            f"backend {route.name}_canary_only",
            "    option httpchk GET /readyz",
            f"    server canary {host}:{route.canary_port} check inter 300ms",
            "",
        ]
    return "\n".join(lines)


class Gateway:
    """A running HAProxy (foreground child process) and its runtime API."""

    def __init__(self, routes: list[Route]) -> None:
        if shutil.which(HAPROXY) is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
        self.routes = {route.name: route for route in routes}
        self._dir = Path(tempfile.mkdtemp(prefix="bff-gateway-"))
        self.admin_socket = self._dir / "admin.sock"
        self.config_path = self._dir / "haproxy.cfg"
        self.config_path.write_text(render_config(routes, self.admin_socket))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.config_path)], capture_output=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its config: {check.stderr.decode()[:500]}")
        self._process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self._process.returncode} at start")
            if self.admin_socket.exists():
                try:
                    self.command("show info")
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("haproxy did not start in time")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def command(self, line: str) -> str:
        """Send one runtime-API command and return HAProxy's answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(self.admin_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def set_weights(self, route: str, canary_percent: int) -> None:
        """Send ``canary_percent`` of new requests to the canary, the rest to stable."""
        if not 0 <= canary_percent <= 100:
            raise ValueError(f"canary weight must be 0..100, got {canary_percent}")
        # Two commands, so raise one weight before lowering the other: the other order
        # leaves a moment with both at 0 (moving traffic back to stable, canary first),
        # in which HAProxy answers 503 "no server is available".
        new = {"canary": canary_percent, "stable": 100 - canary_percent}
        current = self.weights(route)
        order = sorted(new, key=lambda server: new[server] <= current.get(server, 0))
        for server in order:
            self.command(f"set weight {route}/{server} {new[server]}")

    def weights(self, route: str) -> dict[str, int]:
        result = {}
        for server in ("stable", "canary"):
            answer = self.command(f"get weight {route}/{server}")
            result[server] = int(answer.split()[0])
        return result

    def server_state(self, route: str, server: str) -> str:
        """``UP``, ``DOWN`` or another HAProxy state word for one slot."""
        for line in self.command("show servers state " + route).splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[3] == server:
                return {"0": "STOPPED", "1": "STARTING", "2": "UP", "3": "STOPPING"}.get(fields[5], fields[5])
        return "UNKNOWN"

    def url(self, route: str) -> str:
        return f"http://127.0.0.1:{self.routes[route].public_port}"

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Gateway", "Route", "render_config"]
