"""bff_mobile's app factory and its entry in the ``bff`` command line.

Nothing happens at import time: ``create_app(settings)`` builds the app, and its
lifespan owns the upstream transport, closing it on shutdown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bff_mobile.deps import MobileDeps
from bff_mobile.routes import ENDPOINTS
from bff_mobile.settings import MobileSettings
from shared import ProcessSpec, build_app, build_openapi, build_upstream_set, create_transport
from shared.upstream_set import check_upstream_config
from upstreams.registry import registered_upstreams

VERSION = "1.0.0"
DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")


def create_app(settings: MobileSettings | None = None) -> Starlette:
    """The bff_mobile ASGI app. Settings default to the bundled config file."""
    settings = settings or MobileSettings()
    specs = registered_upstreams()
    check_upstream_config(settings, specs)  # refuse bad config before serving anything

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Mapping[str, Any]]:
        upstreams = build_upstream_set(settings, specs, create_transport(settings.http))
        try:
            yield {"deps": MobileDeps.from_upstreams(settings, upstreams)}
        finally:
            await upstreams.aclose()

    return build_app(settings=settings, endpoints=ENDPOINTS, lifespan=lifespan, openapi=openapi())


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
)
