"""bff_mobile's app factory and its entry in the ``bff`` command line.

Nothing happens at import time: ``create_app(settings)`` builds the app, and its
lifespan owns the upstream transport, closing it on shutdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette

from bff_mobile.pii import exposures
from bff_mobile.routes import ENDPOINTS
from bff_mobile.settings import MobileSettings
from shared import Enforcement, ProcessSpec, build_openapi
from upstreams.assembly import assemble_app
from upstreams.registry import registered_upstreams

VERSION = "1.0.0"
DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")


def create_app(
    settings: MobileSettings | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """The bff_mobile ASGI app.

    ``settings`` defaults to the code defaults; with ``config_path`` the file is watched
    and hot-reloaded (``environ`` overrides applied at each reload; default os.environ).
    """
    settings = settings or MobileSettings()
    return assemble_app(
        process="bff_mobile",
        version=VERSION,
        settings=settings,
        endpoints=ENDPOINTS,
        openapi=openapi(settings),
        config_path=config_path,
        environ=environ,
        span_exporter=span_exporter,
    )


def openapi(settings: MobileSettings | None = None) -> dict[str, Any]:
    """The REST API's OpenAPI document, as a process with ``settings`` enforces it (the
    credentials of its auth.mode, 429 while rate limiting is on). With none, the
    production-mode document: the committed snapshot, docs/api/bff_mobile.openapi.json."""
    return build_openapi(
        "bff_mobile",
        VERSION,
        "Backend-for-frontend of the mobile app: one compact call per screen. Errors are "
        "application/problem+json; GET answers carry a weak ETag and honour If-None-Match.",
        ENDPOINTS,
        Enforcement.of(settings or MobileSettings()),
    )


PROCESS = ProcessSpec(
    name="mobile",
    description="bff_mobile: REST for the mobile app",
    settings_model=MobileSettings,
    create_app=create_app,
    upstreams=registered_upstreams,
    default_config=DEFAULT_CONFIG,
    openapi=openapi,
    pii_exposures=exposures,
)
