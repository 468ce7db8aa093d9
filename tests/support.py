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
from shared.listeners import Listeners
from shared.servers import ServerThread
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


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(*extra: str, directory: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """A ``redis-server`` of the test's own on a free loopback port (never the machine's
    6379), answering PING before this returns; the caller stops it (``stop_redis``)."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    if directory is not None:
        command += ["--dir", str(directory)]
    process = subprocess.Popen([*command, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=0.5)
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited with {process.returncode}")
            try:
                if client.ping():
                    break
            except redis.RedisError:
                time.sleep(0.02)
    finally:
        client.close()
    return process, port


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
