"""Helpers the integration tests share: the stand-in cluster and its fault switches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace.export import SpanExporter

from bff_mobile.app import create_app
from bff_mobile.settings import MobileSettings
from bff_web.app import create_app as create_web_app
from bff_web.settings import WebSettings
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
    """A bff_mobile config (as data) pointing at ``standins``, admin API enabled."""
    data: dict[str, Any] = {
        "upstreams": standins.upstream_config(),
        "deadline_seconds": 1.5,
        "admin": {"token": ADMIN_TOKEN},
        # Most tests name the caller directly; tests/shared/test_auth.py covers real tokens.
        "auth": {"mode": "trusted_header"},
        # Every test calls from 127.0.0.1; tests/shared/test_rate_limit.py covers limiting.
        "rate_limit": {"enabled": False},
    }
    data.update(overrides)
    return data


def mobile_settings(standins: Standins, **overrides: Any) -> MobileSettings:
    return MobileSettings.model_validate(mobile_config(standins, **overrides))


def reset_bff(client: httpx.Client, base_url: str) -> None:
    """Close every breaker with an empty window and empty the cache (through the admin API),
    so one test's faults and cached answers never leak into the next."""
    for breaker in client.get(f"{base_url}/admin/breakers", headers=ADMIN).raise_for_status().json():
        url = f"{base_url}/admin/breakers/{breaker['upstream']}/{breaker['region']}"
        client.put(url, json={"force": None}, headers=ADMIN).raise_for_status()
    for spec in registered_upstreams():
        for op in spec.operations:
            body = {"operation": op.key}
            client.post(f"{base_url}/admin/cache/invalidate", json=body, headers=ADMIN).raise_for_status()


@contextmanager
def serve_mobile(
    settings: MobileSettings, config_path: Path | None = None, span_exporter: SpanExporter | None = None
) -> Iterator[str]:
    """Serve bff_mobile with ``settings`` on a real loopback socket; yields its base URL."""
    app = create_app(settings, config_path, environ={}, span_exporter=span_exporter)
    with ServerThread({"mobile": app}, lifespan="on") as server:
        yield server.url("mobile")


def web_settings(standins: Standins, **overrides: Any) -> WebSettings:
    return WebSettings.model_validate(mobile_config(standins, **overrides))


@contextmanager
def serve_web(settings: WebSettings, config_path: Path | None = None) -> Iterator[str]:
    """Serve bff_web with ``settings`` on a real loopback socket; yields its base URL."""
    with ServerThread({"web": create_web_app(settings, config_path, environ={})}, lifespan="on") as server:
        yield server.url("web")
