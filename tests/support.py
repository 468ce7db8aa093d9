"""Helpers the integration tests share: the stand-in cluster and its fault switches."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import httpx
import redis
from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette

from bff_mobile.app import create_app
from bff_mobile.settings import MobileSettings
from bff_web.app import create_app as create_web_app
from bff_web.settings import WebSettings
from shared.cache.connection import RedisConnection, connect
from shared.cache.stores import RedisStore
from shared.cli.servers import ServerThread
from shared.listeners import Listeners
from shared.settings import RedisSettings
from shared.types import ASGIApp
from upstreams.registry import registered_upstreams


class Standins:
    """Every registered upstream's stand-in, in both regions, on ephemeral loopback ports."""

    def __init__(self) -> None:
        apps: dict[str, ASGIApp] = {}
        self.region_names: dict[str, list[str]] = {}
        for spec in registered_upstreams():
            regions = list(spec.local_regions)
            self.region_names[spec.name] = regions
            for region, app in spec.create_standins(regions).items():
                apps[f"{spec.name}@{region}"] = app
        self.servers = ServerThread(apps)
        self.http = httpx.Client(timeout=5)

    def start(self) -> None:
        self.servers.start()

    def stop(self) -> None:
        self.http.close()
        self.servers.stop()

    def url(self, upstream: str, region: str | None = None) -> str:
        return self.servers.url(f"{upstream}@{region or self.region_names[upstream][0]}")

    def upstream_config(self) -> dict[str, Any]:
        """The ``upstreams`` section of a process config pointing at these servers."""
        return {
            name: {"regions": {region: self.url(name, region) for region in regions}}
            for name, regions in self.region_names.items()
        }

    def fault(self, upstream: str, region: str | None = None, **faults: Any) -> None:
        """Switch faults on one region of ``upstream`` (all its regions if ``region="*"``)."""
        regions = self.region_names[upstream] if region == "*" else [region or self.region_names[upstream][0]]
        for name in regions:
            self.http.put(f"{self.url(upstream, name)}/_faults", json=faults).raise_for_status()

    def requests(self, upstream: str, region: str | None = None) -> int:
        answer = self.http.get(f"{self.url(upstream, region)}/_stats").raise_for_status().json()
        count: int = answer["requests"]
        return count

    def reset(self) -> None:
        for name, regions in self.region_names.items():
            for region in regions:
                base = self.url(name, region)
                self.http.delete(f"{base}/_faults").raise_for_status()
                self.http.delete(f"{base}/_stats").raise_for_status()


ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def mobile_config(standins: Standins, **overrides: Any) -> dict[str, Any]:
    """A bff_mobile config (as data) pointing at ``standins``, admin API enabled on an
    ephemeral port of its own (several processes run at once in the tests)."""
    data: dict[str, Any] = {
        "upstreams": standins.upstream_config(),
        "deadline_seconds": 1.5,
        "admin": {"token": ADMIN_TOKEN, "port": 0},
        # Most tests name the caller directly; tests/shared/test_auth.py covers real tokens.
        "auth": {"mode": "trusted_header"},
        # Every test calls from 127.0.0.1; tests/shared/test_rate_limit.py covers limiting.
        "rate_limit": {"enabled": False},
    }
    data.update(overrides)
    return data


def mobile_settings(standins: Standins, **overrides: Any) -> MobileSettings:
    return MobileSettings.model_validate(mobile_config(standins, **overrides))


def reset_bff(client: httpx.Client, admin_url: str) -> None:
    """Close every breaker with an empty window and empty the cache (through the admin API
    at ``admin_url``), so one test's faults and cached answers never leak into the next."""
    for breaker in client.get(f"{admin_url}/admin/breakers", headers=ADMIN).raise_for_status().json():
        url = f"{admin_url}/admin/breakers/{breaker['upstream']}/{breaker['region']}"
        client.put(url, json={"force": None}, headers=ADMIN).raise_for_status()
    for spec in registered_upstreams():
        for op in spec.operations:
            body = {"operation": op.key}
            client.post(f"{admin_url}/admin/cache/invalidate", json=body, headers=ADMIN).raise_for_status()


class ServedUrl(str):
    """The public base URL of a served BFF process; ``admin`` is its admin listener's.

    A ``str``, so ``with serve_mobile(settings) as url`` reads as it always did."""

    admin: str

    def __new__(cls, public: str, admin: str) -> Self:
        url = super().__new__(cls, public)
        url.admin = admin
        return url


@contextmanager
def serve_app(name: str, app: Starlette) -> Iterator[ServedUrl]:
    """Serve a BFF ``app`` on its public and admin listeners, both on ephemeral loopback
    ports, in one server (as ``bff serve`` does)."""
    listeners: Listeners = app.state.listeners
    sockets = listeners.bind(ephemeral=True)
    with ServerThread({name: app}, lifespan="on", sockets={name: sockets}):
        yield ServedUrl(listeners.public_url, listeners.admin_url)


@contextmanager
def serve_mobile(
    settings: MobileSettings, config_path: Path | None = None, span_exporter: SpanExporter | None = None
) -> Iterator[ServedUrl]:
    """Serve bff_mobile with ``settings`` on real loopback sockets; yields its URLs."""
    with serve_app("mobile", create_app(settings, config_path, environ={}, span_exporter=span_exporter)) as url:
        yield url


def web_settings(standins: Standins, **overrides: Any) -> WebSettings:
    """bff_web's settings against ``standins``: upstreams and the identity provider's sign-in page."""
    sessions = {"authorize_url": standins.url("identity") + "/authorize", **overrides.pop("sessions", {})}
    return WebSettings.model_validate(mobile_config(standins, sessions=sessions, **overrides))


@contextmanager
def serve_web(
    settings: WebSettings, config_path: Path | None = None, span_exporter: SpanExporter | None = None
) -> Iterator[ServedUrl]:
    """Serve bff_web with ``settings`` on real loopback sockets; yields its URLs."""
    with serve_app("web", create_web_app(settings, config_path, environ={}, span_exporter=span_exporter)) as url:
        yield url


def get_scope(path: str, headers: list[tuple[bytes, bytes]], **extra: Any) -> dict[str, Any]:
    """The ASGI scope of one ``GET path`` from a loopback client, for raw ASGI calls."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        **extra,
    }


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(
    *extra: str, directory: Path | None = None, cluster_bus: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """A ``redis-server`` of the test's own on a free loopback port (never the machine's
    6379), answering PING before this returns; the caller stops it (``stop_redis``).

    A port found free can be taken before the server binds it (or, for a Cluster node's
    bus, be the very port just chosen for the node): a server that exits at start is
    started again on other ports, a few times. ``cluster_bus`` names a bus port of its own."""
    for attempt in range(5):
        port = free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if cluster_bus:
            bus = free_port()
            while bus == port:
                bus = free_port()
            command += ["--cluster-port", str(bus)]
        if directory is not None:
            command += ["--dir", str(directory)]
        process = subprocess.Popen([*command, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _answers_ping(process, port):
            return process, port
        if attempt == 4:
            raise RuntimeError(f"redis-server on port {port} exited with {process.returncode}")
    raise AssertionError("unreachable")


def _answers_ping(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether ``process`` came up on ``port``; ``False`` once it has exited."""
    client = redis.Redis(port=port, socket_timeout=0.5)
    try:
        for _ in range(200):
            if process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.02)
    finally:
        client.close()
    return True  # still starting after 4 s: the caller's first command will tell


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGCONT)  # a stopped (SIGSTOP) server cannot die until continued
    process.kill()
    process.wait()


@contextmanager
def own_redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own: its URL and process (to stop or kill mid-test)."""
    process, port = start_redis()
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        stop_redis(process)


class RedisTopology:
    """Redis as a test started it: one node, a Sentinel group or a Cluster, all
    ``redis-server`` processes of the test's own on loopback ports.

    ``cache`` is the ``cache.redis`` section that points at it; ``primaries`` the data
    nodes that hold every key (what a raw scan must read); ``processes`` every process by
    port (to kill one mid-test)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cache: dict[str, Any] = {}
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.sentinel_ports: list[int] = []
        self.service_name = "bfftest"

    def primaries(self) -> list[redis.Redis]:
        """A client of each node that holds primary data now (after a failover too)."""
        if self.name == "cluster":
            nodes = []
            for port, process in self.processes.items():
                if process.poll() is not None:
                    continue
                client = redis.Redis(port=port, socket_timeout=1)
                try:
                    if client.info("replication")["role"] == "master":
                        nodes.append(client)
                        continue
                except redis.RedisError:
                    pass
                client.close()
            return nodes
        return [redis.Redis(port=self.primary_port(), socket_timeout=1)]

    def primary_port(self, key: str | None = None) -> int:
        """The port of the primary (of the shard owning ``key`` on a Cluster)."""
        if self.name == "sentinel":
            sentinel = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1)
            try:
                address: tuple[str, int] = sentinel.sentinel_get_master_addr_by_name(self.service_name)  # type: ignore[assignment]
                port = address[1]
            finally:
                sentinel.close()
            return int(port)
        if self.name == "cluster":
            cluster = self.cluster_client()
            try:
                node = cluster.get_node_from_key(key or "")  # type: ignore[no-untyped-call]
                return int(node.port)
            finally:
                cluster.close()
        return next(iter(self.processes))

    def cluster_client(self) -> redis.RedisCluster:
        """A Cluster client seeded with every node still running."""
        alive = [port for port, process in self.processes.items() if process.poll() is None]
        nodes = [redis.cluster.ClusterNode("127.0.0.1", port) for port in alive]  # type: ignore[no-untyped-call]
        return redis.RedisCluster(startup_nodes=nodes, socket_timeout=1)

    def settings(self) -> RedisSettings:
        """``cache.redis`` for this topology, as the processes validate it."""
        return RedisSettings.model_validate(self.cache)

    def store(self, *, pool_size: int = 100, timeout: float = 1.0) -> RedisStore:
        """A store on this topology through the one connection layer, as a process has."""
        return RedisStore.connect(self.settings(), pool_size=pool_size, op_timeout=timeout, connect_timeout=timeout)

    def connection(self) -> RedisConnection:
        """A raw connection (one node, the Sentinel's primary, or the Cluster) for a test
        to look through (``.client``); the test closes it."""
        return connect(self.settings(), pool_size=8, op_timeout=1, connect_timeout=1)

    def publish(self, channel: str, message: bytes) -> None:
        """Publish as an upstream would: ``SPUBLISH`` on a Cluster, else ``PUBLISH``."""
        if self.name == "cluster":
            cluster = self.cluster_client()
            try:
                cluster.spublish(channel, message)
            finally:
                cluster.close()
        else:
            client = redis.Redis(port=self.primary_port(), socket_timeout=1)
            client.publish(channel, message)
            client.close()

    def keys(self, prefix: str) -> dict[bytes, redis.Redis]:
        """Every key under ``prefix`` on the primaries, with the client of its node."""
        found: dict[bytes, redis.Redis] = {}
        for client in self.primaries():
            for key in client.scan_iter(match=f"{prefix}:*", count=500):
                found[key] = client
        return found

    def forget(self, prefix: str) -> None:
        """Delete every key under ``prefix`` (one slot at a time on a Cluster)."""
        for client in self.primaries():
            for key in list(client.scan_iter(match=f"{prefix}:*", count=500)):
                client.delete(key)
            client.close()

    def stop(self) -> None:
        for process in self.processes.values():
            stop_redis(process)


def _wait_until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def start_cluster(directory: Path, *, node_timeout_ms: int = 1000) -> RedisTopology:
    """A 6-node Cluster: 3 primaries and 3 replicas (``redis-cli --cluster create``)."""
    topology = RedisTopology("cluster")
    try:
        for index in range(6):
            node_dir = directory / f"node{index}"
            node_dir.mkdir()
            # The bus port is named: the default (port + 10000) may be taken, or past 65535.
            cluster = ("--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout_ms))
            process, port = start_redis(*cluster, directory=node_dir, cluster_bus=True)
            topology.processes[port] = process
        ports = list(topology.processes)
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def ready() -> bool:
            for port in ports:
                client = redis.Redis(port=port, socket_timeout=1)
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                    info = client.info("replication")
                    if info["role"] == "slave" and info.get("master_link_status") != "up":
                        return False
                finally:
                    client.close()
            return True

        _wait_until(ready, "the cluster to be ok with every replica in sync")
    except BaseException:
        topology.stop()
        raise
    topology.cache = {"cluster": {"nodes": [f"127.0.0.1:{port}" for port in ports[:3]]}}
    return topology


def start_sentinel_group(directory: Path, *, down_after_ms: int = 1000, for_failover: bool = False) -> RedisTopology:
    """A primary, a replica and 3 Sentinels watching them (quorum 2). ``for_failover``
    waits until the Sentinels know each other and the replica (hello messages, about 5 s),
    which only a promotion needs: naming the primary works at once."""
    topology = RedisTopology("sentinel")
    try:
        primary, primary_port = start_redis(directory=directory)
        topology.processes[primary_port] = primary
        replica, replica_port = start_redis("--replicaof", "127.0.0.1", str(primary_port), directory=directory)
        topology.processes[replica_port] = replica
        for index in range(3):
            port = free_port()
            config = directory / f"sentinel{index}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {topology.service_name} 127.0.0.1 {primary_port} 2\n"
                f"sentinel down-after-milliseconds {topology.service_name} {down_after_ms}\n"
                f"sentinel failover-timeout {topology.service_name} 10000\n"
            )
            process = subprocess.Popen(
                ["redis-server", str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            topology.processes[port] = process
            topology.sentinel_ports.append(port)

        def ready() -> bool:
            client = redis.Redis(port=replica_port, socket_timeout=1)
            try:
                if client.info("replication").get("master_link_status") != "up":
                    return False
            finally:
                client.close()
            for port in topology.sentinel_ports if for_failover else ():
                sentinel = redis.Redis(port=port, socket_timeout=1)
                try:
                    state: dict[str, Any] = sentinel.sentinel_master(topology.service_name)  # type: ignore[assignment]
                    if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                        return False
                finally:
                    sentinel.close()
            return True

        _wait_until(ready, "the Sentinels to see the replica and each other")
    except BaseException:
        topology.stop()
        raise
    topology.cache = {
        "sentinel": {
            "service_name": topology.service_name,
            "sentinels": [f"127.0.0.1:{port}" for port in topology.sentinel_ports],
        }
    }
    return topology


def start_single(directory: Path) -> RedisTopology:
    topology = RedisTopology("single")
    process, port = start_redis(directory=directory)
    topology.processes[port] = process
    topology.cache = {"url": f"redis://127.0.0.1:{port}/0"}
    return topology


TOPOLOGIES = ("single", "sentinel", "cluster")


@contextmanager
def running_topology(name: str, directory: Path, *, for_failover: bool = False) -> Iterator[RedisTopology]:
    """Start topology ``name`` (one of ``TOPOLOGIES``) in ``directory``; stop it after."""
    if name == "sentinel":
        topology = start_sentinel_group(directory, for_failover=for_failover)
    else:
        topology = {"single": start_single, "cluster": start_cluster}[name](directory)
    try:
        yield topology
    finally:
        topology.stop()
