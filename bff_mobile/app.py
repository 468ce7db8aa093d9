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
from shared import ProcessSpec, build_app, build_openapi
from shared.app import runtime_lifespan
from shared.auth import DeferredJwks, TokenVerifier
from shared.ratelimit import RateLimiter
from shared.runtime import Runtime
from shared.telemetry import Telemetry
from shared.upstream_set import check_upstream_config
from upstreams.clients import UpstreamClients
from upstreams.identity import IdentityClient
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
    specs = registered_upstreams()
    check_upstream_config(settings, specs)  # refuse bad config before serving anything
    limiter = RateLimiter(settings.rate_limit)
    jwks = DeferredJwks()
    verifier = TokenVerifier(settings.auth, jwks) if settings.auth.mode == "jwt" else None

    def state(runtime: Runtime[Any]) -> dict[str, Any]:
        jwks.bind(IdentityClient(runtime.upstreams["identity"]).jwks)
        return {"deps": UpstreamClients.from_runtime(runtime)}

    telemetry = Telemetry.create("bff_mobile", VERSION, settings.telemetry, span_exporter)
    lifespan = runtime_lifespan(
        settings,
        specs,
        state,
        telemetry=telemetry,
        limiter=limiter,
        config_path=config_path,
        environ=environ,
    )
    return build_app(
        settings=settings,
        endpoints=ENDPOINTS,
        lifespan=lifespan,
        openapi=openapi(),
        telemetry=telemetry,
        limiter=limiter,
        verifier=verifier,
    )


def openapi() -> dict[str, Any]:
    return build_openapi(
        "bff_mobile",
        VERSION,
        "Backend-for-frontend of the mobile app: one compact call per screen. Errors are "
        "application/problem+json; GET answers carry a weak ETag and honour If-None-Match.",
        ENDPOINTS,
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
