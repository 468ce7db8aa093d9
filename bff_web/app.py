"""bff_web's app factory and its entry in the ``bff`` command line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from bff_web.graphql.endpoint import GraphQLService, graphql
from bff_web.graphql.persisted import PersistedQueries
from bff_web.pii import exposures
from bff_web.routes import ENDPOINTS
from bff_web.routes.auth import ROUTES as AUTH_ROUTES
from bff_web.routes.auth import SIGN_IN_PATHS
from bff_web.routes.auth_openapi import SESSION_SCHEMAS, session_paths
from bff_web.settings import WebSettings
from shared import Enforcement, ProcessSpec, build_openapi
from shared.auth.middleware import SessionCookies
from shared.auth.sessions import SessionStore
from shared.process import BrowserClient
from upstreams.assembly import assemble_app
from upstreams.registry import registered_upstreams

VERSION = "1.0.0"
DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")


def create_app(
    settings: WebSettings | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """The bff_web ASGI app: REST under /v1 and GraphQL at /graphql."""
    settings = settings or WebSettings()
    # Read (and check the hashes of) the allowlist now: a bad file refuses to start.
    allowlist = settings.graphql.persisted_queries_file
    if allowlist is not None and not allowlist.is_absolute() and config_path is not None:
        allowlist = config_path.parent / allowlist  # relative to the config file
    service = GraphQLService(PersistedQueries.from_file(allowlist))
    routes: list[BaseRoute] = [Route("/graphql", graphql, methods=["GET", "POST"])]
    sessions = None
    if settings.sessions.enabled:
        store = SessionStore(
            idle_seconds=settings.sessions.idle_seconds,
            max_age_seconds=settings.sessions.max_age_seconds,
            timeout=settings.sessions.store_timeout_seconds,
        )
        sessions = SessionCookies(
            store,
            settings.sessions.cookie_name,
            secure=settings.sessions.cookie_secure,
            same_site=settings.sessions.same_site,
            sign_in_paths=SIGN_IN_PATHS,
        )
        routes += AUTH_ROUTES
    return assemble_app(
        process="bff_web",
        version=VERSION,
        settings=settings,
        endpoints=ENDPOINTS,
        openapi=openapi(settings),
        extra_state={"graphql": service, "session_cookies": sessions},
        extra_routes=routes,
        sessions=sessions,
        config_path=config_path,
        environ=environ,
        span_exporter=span_exporter,
    )


def openapi(settings: WebSettings | None = None) -> dict[str, Any]:
    """The REST API's OpenAPI document, as a process with ``settings`` enforces it (the
    credentials of its auth.mode and, with sessions on, the session cookie, its CSRF token
    and the browser sign-in routes; 429 while rate limiting is on). With none, the
    production-mode document: the committed snapshot, docs/api/bff_web.openapi.json."""
    settings = settings or WebSettings()
    sessions = settings.sessions.enabled
    enforcement = Enforcement.of(settings, session_cookie=settings.sessions.cookie_name if sessions else None)
    document = build_openapi(
        "bff_web",
        VERSION,
        "Backend-for-frontend of the web app. REST for simple resources (this document); "
        "GraphQL at /graphql for the dashboard, product page and search (schema in "
        "docs/api/bff_web.graphql). Errors are application/problem+json; GET answers carry a "
        "weak ETag.",
        ENDPOINTS,
        enforcement,
    )
    if sessions:
        document["paths"] = dict(sorted({**document["paths"], **session_paths(enforcement)}.items()))
        schemas = document["components"]["schemas"]
        document["components"]["schemas"] = dict(sorted({**schemas, **SESSION_SCHEMAS}.items()))
    return document


PROCESS = ProcessSpec(
    name="web",
    description="bff_web: REST and GraphQL for the web app",
    settings_model=WebSettings,
    create_app=create_app,
    upstreams=registered_upstreams,
    default_config=DEFAULT_CONFIG,
    openapi=openapi,
    pii_exposures=exposures,
    # The reference web client (docs/web-sessions.md); config.yaml lists its origin for CORS.
    browser_client=BrowserClient(Path(__file__).with_name("reference_client"), port=8088),
)
