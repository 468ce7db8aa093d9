"""Assembling a BFF process's app from its endpoints: the part both processes share.

Rate limiter, token verifier (bound to the identity provider's JWKS once the lifespan
has built its client), telemetry, the runtime lifespan and the Starlette app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from shared import Endpoint, ProcessSettings, build_app
from shared.app import runtime_lifespan
from shared.auth import DeferredJwks, TokenVerifier
from shared.ratelimit import RateLimiter
from shared.runtime import Runtime
from shared.telemetry import Telemetry
from shared.upstream_set import check_upstream_config
from upstreams.clients import UpstreamClients
from upstreams.identity import IdentityClient
from upstreams.registry import registered_upstreams


def assemble_app(
    *,
    process: str,
    version: str,
    settings: ProcessSettings,
    endpoints: Sequence[Endpoint],
    openapi: Mapping[str, Any],
    extra_state: Mapping[str, Any] | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """The app of ``process``; request state holds ``deps`` (every upstream client) and ``extra_state``."""
    specs = registered_upstreams()
    check_upstream_config(settings, specs)  # refuse bad config before serving anything
    limiter = RateLimiter(settings.rate_limit)
    jwks = DeferredJwks()
    verifier = TokenVerifier(settings.auth, jwks) if settings.auth.mode == "jwt" else None

    def state(runtime: Runtime[Any]) -> dict[str, Any]:
        jwks.bind(IdentityClient(runtime.upstreams["identity"]).jwks)
        return {"deps": UpstreamClients.from_runtime(runtime), **(extra_state or {})}

    telemetry = Telemetry.create(process, version, settings.telemetry, span_exporter)
    lifespan = runtime_lifespan(
        settings, specs, state, telemetry=telemetry, limiter=limiter, config_path=config_path, environ=environ
    )
    return build_app(
        settings=settings,
        endpoints=endpoints,
        lifespan=lifespan,
        openapi=openapi,
        telemetry=telemetry,
        limiter=limiter,
        verifier=verifier,
        extra_routes=extra_routes,
    )


__all__ = ["assemble_app"]
