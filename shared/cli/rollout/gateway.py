"""A real HAProxy in front of BFF instances: weighted and cohort stable/canary routing,
health checks on /readyz, retries of idempotent requests on connection failure, and every
routing change through HAProxy's runtime API (no reload, no dropped connection).

Each process gets a frontend on its public port and a backend with two server slots,
``stable`` and ``canary``; a request carrying ``X-Canary: always`` goes to the canary
(internal testers). Every answer names the version that served it in
``X-Served-By-Version`` (each slot's version is a runtime map entry, so promoting a new
version into the stable slot renames it without a reload).

Cohort routing (shared/cli/rollout/cohorts.py): a route declares the cohort selectors of a rollout's
steps; the config renders them as ACLs on the caller's platform and app version, read as
shared/client_identity.py reads them (one valid value per header, else ignored). The
caller's user (the bearer token's ``sub``, else ``X-User-Id``, the browser session cookie,
``X-Anonymous-Id``, else the client address) is hashed with a per-rollout salt into a
bucket in [0, 100) (shared/cli/rollout/buckets.py computes the same). A request goes to the
canary when cohort routing is on and, for any step whose weight is set, it is in the
step's cohort and its bucket is below the weight. Each step's weight and the on/off
switch are entries of a runtime map: one command moves a step, and one command
(``set_cohort_routing(route, False)``) rolls everyone back. The token is read, not
verified, for routing only: the BFF behind verifies it.

The gateway also enforces what the BFF's HTTP server (uvicorn) cannot, as
docs/sre-guide.md "What the gateway in front must enforce" lists: a deadline for a
request's headers (``timeout http-request``, so an unfinished request cannot hold a
connection), a client inactivity timeout, connection limits, a header size bound, one
``Host``; and it is the one writer of ``X-Forwarded-For`` (a client's own is dropped),
which the BFF believes from ``server.trusted_proxies`` only."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shared.cli.rollout.cohorts import CohortSelector
from shared.client_identity import VERSION_PATTERN

HAPROXY = "haproxy"
#: A request's headers must all arrive within this (slowloris), and then its body.
HEADER_TIMEOUT = "5s"
#: Total connections the gateway holds, and per public frontend.
MAX_CONNECTIONS = 4096
FRONTEND_MAX_CONNECTIONS = 2000


#: The response header naming the version that answered.
VERSION_HEADER = "X-Served-By-Version"
_LABEL = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Route:
    """One process behind the gateway: its public port, the two instance slots, and the
    cohort selectors of the rollout steps it can route (step 1 is ``cohorts[0]``)."""

    name: str
    public_port: int
    stable_port: int
    canary_port: int
    cohorts: tuple[CohortSelector, ...] = ()
    #: A browser session cookie that names the user when no token does (bff_web).
    session_cookie: str | None = None


def weights_map(directory: Path, route: str) -> Path:
    """The runtime map of a route's cohort routing: ``enabled`` 0/1 and each step's weight."""
    return directory / f"{route}.weights.map"


def labels_map(directory: Path, route: str) -> Path:
    """The runtime map of each slot's version (``stable``, ``canary``) and the bucket ``salt``."""
    return directory / f"{route}.labels.map"


def _cohort_condition(selector: CohortSelector) -> str:
    conditions = []
    if selector.platforms is not None:
        conditions.append("{ var(txn.platform) -m str " + " ".join(sorted(selector.platforms)) + " }")
    if selector.min_version is not None:
        conditions.append(
            f"{{ var(txn.app_version) -m int ge {selector.min_version[0] * 1000 + selector.min_version[1]} }}"
        )
    if selector.below_version is not None:
        conditions.append(
            f"{{ var(txn.app_version) -m int lt {selector.below_version[0] * 1000 + selector.below_version[1]} }}"
        )
    return " ".join(conditions)


def _cohort_rules(route: Route, directory: Path) -> list[str]:
    """The frontend rules that pick the canary by cohort and user bucket (see the module)."""
    weights, labels = weights_map(directory, route.name), labels_map(directory, route.name)
    # HAProxy's regex is PCRE: the pattern is the one of shared/client_identity.py.
    version_ok = f"{{ req.fhdr(x-app-version) -m reg {VERSION_PATTERN} }}"
    user_unset = "!{ var(txn.user) -m found }"
    lines = [
        "    # Cohort routing: the caller's platform and major*1000+minor, one valid value each.",
        "    http-request set-var(txn.platform) req.fhdr(x-client-platform),lower"
        " if { req.fhdr_cnt(x-client-platform) eq 1 }",
        "    http-request set-var(txn.major) req.fhdr(x-app-version),field(1,.)"
        f" if {{ req.fhdr_cnt(x-app-version) eq 1 }} {version_ok}",
        "    http-request set-var(txn.minor) req.fhdr(x-app-version),field(2,.),field(1,-),field(1,+)"
        " if { var(txn.major) -m found }",
        "    http-request set-var(txn.app_version) var(txn.major),mul(1000),add(txn.minor)"
        " if { var(txn.major) -m found }",
        "    # The user, then its bucket in [0, 100): stable through a rollout, salted per rollout.",
        "    http-request set-var(txn.user) req.hdr(authorization),word(2,' '),jwt_payload_query('$.sub')"
        ' if { req.hdr(authorization) -m beg -i "bearer " }',
        f"    http-request set-var(txn.user) req.fhdr(x-user-id) if {user_unset} {{ req.fhdr_cnt(x-user-id) eq 1 }}",
    ]
    if route.session_cookie:
        lines.append(
            f"    http-request set-var(txn.user) req.cook({route.session_cookie}) if {user_unset}"
            f" {{ req.cook({route.session_cookie}) -m found }}"
        )
    lines += [
        f"    http-request set-var(txn.user) req.fhdr(x-anonymous-id) if {user_unset}"
        " { req.fhdr_cnt(x-anonymous-id) eq 1 }",
        f'    http-request set-var-fmt(txn.user) "%[src]" if {user_unset}',
        f"    http-request set-var(txn.salt) str(salt),map({labels},)",
        "    http-request set-var(txn.bucket) var(txn.user),concat(,txn.salt,),xxh32,mod(100)",
    ]
    for number, selector in enumerate(route.cohorts, start=1):
        condition = _cohort_condition(selector)
        lines += [
            f"    # step {number}: {selector}",
            f"    http-request set-var(txn.left{number}) str({number}),map_str_int({weights},0),sub(txn.bucket)"
            + (f" if {condition}" if condition else ""),
            f"    http-request set-var(txn.to_canary) int(1) if {{ var(txn.left{number}) -m int gt 0 }}",
        ]
    lines.append(
        f"    use_backend {route.name}_canary_only if {{ var(txn.to_canary) -m found }}"
        f" {{ str(enabled),map_str_int({weights},0) -m int eq 1 }}"
    )
    return lines


def render_config(routes: list[Route], admin_socket: Path, host: str = "127.0.0.1") -> str:
    directory = admin_socket.parent
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
        version_of_server = f"srv_name,map({labels_map(directory, route.name)},unknown)"
        served_by = f"    http-response set-header {VERSION_HEADER} %[{version_of_server}]"
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
            *(_cohort_rules(route, directory) if route.cohorts else []),
            f"    use_backend {route.name}_canary_only if {{ req.hdr(x-canary) -m str always }}",
            f"    default_backend {route.name}",
            "",
            f"backend {route.name}",
            "    balance roundrobin",
            served_by,
            # Only idempotent requests are retried (POST only with an Idempotency-Key).
            "    http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }",
            "    option httpchk GET /readyz",
            "    http-check expect status 200",
            "    default-server inter 300ms fall 2 rise 2",
            f"    server stable {host}:{route.stable_port} weight 100 check",
            f"    server canary {host}:{route.canary_port} weight 0 check",
            "",
            f"backend {route.name}_canary_only",
            "    http-request disable-l7-retry if !METH_GET !METH_HEAD !{ req.hdr(idempotency-key) -m found }",
            served_by,
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
        for route in routes:
            steps = "".join(f"{number} 0\n" for number in range(1, len(route.cohorts) + 1))
            weights_map(self._dir, route.name).write_text("enabled 0\n" + steps)
            labels_map(self._dir, route.name).write_text(f"stable stable\ncanary canary\nsalt {secrets.token_hex(4)}\n")
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

    def set_cohort_weight(self, route: str, step: int, weight: int) -> None:
        """Give step ``step`` (1-based, as in ``Route.cohorts``) ``weight`` % of its cohort's users."""
        if not 1 <= step <= len(self.routes[route].cohorts):
            raise ValueError(f"route {route} has steps 1..{len(self.routes[route].cohorts)}, got {step}")
        if not 0 <= weight <= 100:
            raise ValueError(f"a cohort weight must be 0..100, got {weight}")
        self._set_map(weights_map(self._dir, route), str(step), str(weight))

    def set_cohort_routing(self, route: str, enabled: bool) -> None:
        """Turn cohort routing on or off: off sends every user back to stable, in one command."""
        self._set_map(weights_map(self._dir, route), "enabled", "1" if enabled else "0")

    def set_version(self, route: str, slot: str, version: str) -> None:
        """Name the version ``slot`` runs, for the ``X-Served-By-Version`` of its answers."""
        self._set_map(labels_map(self._dir, route), slot, _label(version, "version"))

    def set_salt(self, route: str, salt: str) -> None:
        """The salt of the user buckets: a new one per rollout picks other users for 5 %."""
        self._set_map(labels_map(self._dir, route), "salt", _label(salt, "salt"))

    def cohort_weights(self, route: str) -> dict[str, int]:
        """The route's cohort map: ``enabled`` and each step's weight, as HAProxy holds it now."""
        answer = self.command(f"show map {weights_map(self._dir, route)}")
        entries = (line.split() for line in answer.splitlines() if line.strip())
        return {fields[1]: int(fields[2]) for fields in entries if len(fields) == 3}

    def _set_map(self, path: Path, key: str, value: str) -> None:
        answer = self.command(f"set map {path} {key} {value}")
        if answer.strip():
            raise RuntimeError(f"haproxy refused `set map {path.name} {key} {value}`: {answer.strip()}")

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


def _label(value: str, what: str) -> str:
    if _LABEL.fullmatch(value) is None:
        raise ValueError(f"a {what} for the gateway is 1-64 of A-Z a-z 0-9 . _ + -, got {value!r}")
    return value


__all__ = [
    "VERSION_HEADER",
    "Gateway",
    "Route",
    "labels_map",
    "render_config",
    "weights_map",
]
