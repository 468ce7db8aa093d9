"""The app factory every BFF process builds on.

``build_app`` assembles one Starlette app from a process's endpoints and lifespan: the
middleware list, problem+json handlers, health and OpenAPI routes, and readiness that
turns true only after the lifespan has acquired its resources. Nothing happens at import
time; a process's ``create_app(settings=None)`` calls this with settings it was given.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shared.admin import admin_routes
from shared.auth import AuthMiddleware, TokenVerifier
from shared.auth.middleware import SessionCookies
from shared.auth.sessions import SessionStore
from shared.cache import build_response_cache
from shared.endpoints import Endpoint, endpoint_routes
from shared.forwarded import ClientAddresses
from shared.health import Readiness, health_routes
from shared.http import create_transport
from shared.listeners import ListenerGate, Listeners
from shared.middleware.body_limit import BodyLimitMiddleware
from shared.middleware.compression import GZipMiddleware
from shared.middleware.cors import CORSMiddleware
from shared.middleware.last_resort import LastResortMiddleware
from shared.middleware.request_id import RequestIdMiddleware
from shared.middleware.screen_cache import ScreenCacheMiddleware
from shared.middleware.security import SecurityHeadersMiddleware
from shared.operations import UpstreamSpec
from shared.problems import EXCEPTION_HANDLERS
from shared.ratelimit import RateLimiter, RateLimitMiddleware
from shared.reload import ConfigWatcher
from shared.responses import JSONResponse
from shared.runtime import Runtime
from shared.settings import ProcessSettings, load_settings
from shared.telemetry.logs import redact_marked_fields
from shared.telemetry.middleware import TelemetryMiddleware
from shared.telemetry.setup import Telemetry
from shared.upstream_client import UNOBSERVED
from shared.upstream_set import build_upstream_set

StateLifespan = Callable[[Starlette], AbstractAsyncContextManager[Mapping[str, Any]]]
SettingsT = TypeVar("SettingsT", bound=ProcessSettings)


def runtime_lifespan(
    settings: SettingsT,
    specs: Sequence[UpstreamSpec],
    state: Callable[[Runtime[SettingsT]], Mapping[str, Any]],
    *,
    telemetry: Telemetry,
    limiter: RateLimiter | None = None,
    sessions: SessionStore | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> StateLifespan:
    """The lifespan every BFF process shares: it owns the upstream transport and clients,
    the reloadable ``Runtime`` (hot reload from ``config_path`` on change or SIGHUP), and
    yields ``state(runtime)`` plus ``runtime`` as the request state."""
    model = type(settings)

    def load() -> SettingsT:
        return load_settings(model, config_path, os.environ if environ is None else environ)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        redact_marked_fields(specs)
        cache = build_response_cache(settings.cache, gzip_min_bytes=settings.server.gzip_min_bytes)
        await cache.start()
        if limiter is not None:
            limiter.bind(cache.keys.secret, settings.cache.prefix, cache.redis_client, cache.store)
        if sessions is not None:  # browser sessions live beside the cache, in its store
            sessions.bind(cache.store.store, cache.keys, cache.sealer)
        upstreams = build_upstream_set(
            settings,
            specs,
            create_transport(settings.http),
            cache,
            observer=telemetry.observer if settings.telemetry.enabled else UNOBSERVED,
        )
        runtime = Runtime(settings, specs, upstreams, load if config_path else None)
        telemetry.metrics.watch(runtime)
        watcher = None
        if config_path is not None:
            watcher = ConfigWatcher(
                runtime, config_path, interval=settings.reload.interval_seconds, watch=settings.reload.watch
            )
            watcher.start()
        try:
            yield {**state(runtime), "runtime": runtime, "screens": cache.screens}
        finally:
            if watcher is not None:
                await watcher.stop()
            await upstreams.aclose()
            telemetry.shutdown()

    return lifespan


def build_app(
    *,
    settings: ProcessSettings,
    endpoints: Sequence[Endpoint],
    lifespan: StateLifespan,
    openapi: Mapping[str, Any],
    telemetry: Telemetry,
    limiter: RateLimiter | None = None,
    verifier: TokenVerifier | None = None,
    sessions: SessionCookies | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    readiness: Readiness | None = None,
) -> Starlette:
    """``verifier`` checks bearer tokens; ``None`` trusts ``X-User-Id`` (auth.mode trusted_header).
    ``sessions`` also accepts browser session cookies (bff_web)."""
    readiness = readiness or Readiness()
    listeners = Listeners(settings.server, settings.admin)

    @contextlib.asynccontextmanager
    async def managed(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        async with lifespan(app) as state:
            readiness.mark_ready()
            try:
                yield {**state, "readiness": readiness}
            finally:
                readiness.mark_draining()

    async def openapi_document(request: Request) -> Response:
        return JSONResponse(openapi)

    routes: list[BaseRoute] = [
        # Starlette tries routes in order, and a request pays for each route tried before
        # its own: the probes (frequent, and the cheapest answers), then the API.
        *health_routes(readiness),
        *endpoint_routes(endpoints),
        telemetry.metrics_route(),
        Route("/openapi.json", openapi_document, methods=["GET"], include_in_schema=False),
        *admin_routes(),
        *extra_routes,
    ]
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(SecurityHeadersMiddleware, max_header_bytes=settings.server.max_header_bytes),
        # An exception no handler took: a 500 that still carries the two layers' headers.
        Middleware(LastResortMiddleware),
        # /admin only on the admin listener, the public API only on the public one.
        Middleware(ListenerGate, listeners=listeners),
        Middleware(AuthMiddleware, verifier=verifier, sessions=sessions),
        Middleware(
            RateLimitMiddleware,
            limiter=limiter if settings.rate_limit.enabled else None,
            addresses=ClientAddresses(settings.server.trusted_proxies, settings.server.client_address_header),
        ),
        # A kept screen is answered here: authenticated, limited, counted, before routing.
        Middleware(ScreenCacheMiddleware),
        Middleware(BodyLimitMiddleware, max_body_bytes=settings.server.max_body_bytes),
        Middleware(GZipMiddleware, minimum_size=settings.server.gzip_min_bytes, compresslevel=6),
    ]
    if settings.telemetry.enabled:
        tracer = telemetry.provider.get_tracer("bff")
        traced = Middleware(
            TelemetryMiddleware,
            metrics=telemetry.metrics,
            tracer=tracer,
            sampling_ratio=settings.telemetry.sampling_ratio,
        )
        middleware.insert(2, traced)
    if settings.server.cors_origins:
        cors = Middleware(
            CORSMiddleware,
            allow_origins=settings.server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-CSRF-Token"],
            allow_credentials=sessions is not None,  # browser session cookies, from the listed origins only
            expose_headers=["ETag", "X-Request-Id", "Retry-After"],
            max_age=600,
        )
        middleware.insert(2, cors)  # answers preflights before auth and rate limits
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=managed,
    )
    app.state.readiness = readiness
    app.state.settings = settings
    app.state.listeners = listeners  # bound and served by shared.serving (tests: tests/support.py)
    return app


__all__ = ["StateLifespan", "build_app", "runtime_lifespan"]
