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
from shared.auth.middleware import SessionCookies
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
    sessions: SessionCookies | None = None,
) -> Starlette:
    """The app of ``process``; request state holds ``deps`` (every upstream client),
    ``identity`` (the identity provider's client), ``verifier`` (bearer
    tokens' checker), ``sessions`` (browser sessions, when given) and ``extra_state``."""
    specs = registered_upstreams()
    check_upstream_config(settings, specs)  # refuse bad config before serving anything
    limiter = RateLimiter(settings.rate_limit)
    jwks = DeferredJwks()
    # Bearer tokens are checked in jwt mode; browser sign-in checks its tokens in every mode.
    token_verifier = TokenVerifier(settings.auth, jwks)
    verifier = token_verifier if settings.auth.mode == "jwt" else None

    def state(runtime: Runtime[Any]) -> dict[str, Any]:
        identity = IdentityClient(runtime.upstreams["identity"])
        jwks.bind(identity.jwks)
        return {
            "deps": UpstreamClients.from_runtime(runtime),
            "identity": identity,
            "verifier": token_verifier,
            "sessions": sessions.store if sessions is not None else None,
            **(extra_state or {}),
        }

    telemetry = Telemetry.create(process, version, settings.telemetry, span_exporter)
    lifespan = runtime_lifespan(
        settings,
        specs,
        state,
        telemetry=telemetry,
        limiter=limiter,
        sessions=sessions.store if sessions is not None else None,
        config_path=config_path,
        environ=environ,
    )
    return build_app(
        settings=settings,
        endpoints=endpoints,
        lifespan=lifespan,
        openapi=openapi,
        telemetry=telemetry,
        limiter=limiter,
        verifier=verifier,
        sessions=sessions,
        extra_routes=extra_routes,
    )


__all__ = ["assemble_app"]
