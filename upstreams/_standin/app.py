"""Build a stand-in region: the service's routes plus faults, counters and control routes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from upstreams._standin.chaos import FaultMiddleware
from upstreams._standin.control import control_routes
from upstreams._standin.faults import NO_FAULTS, Faults, FaultSwitch
from upstreams._standin.responses import (
    StandinError,
    http_exception_handler,
    standin_error_handler,
)
from upstreams._standin.stats import RequestStats
from upstreams._standin.tracing import TraceMiddleware

__all__ = ["StandinState", "create_standin_app", "standin_state"]


@dataclass(frozen=True)
class StandinState:
    """The run-time state of one stand-in region, for tests that skip the HTTP controls."""

    service: str
    region: str
    faults: FaultSwitch
    stats: RequestStats


def create_standin_app(
    name: str,
    region: str,
    routes: Sequence[Route],
    *,
    rng: random.Random | None = None,
    faults: Faults = NO_FAULTS,
) -> Starlette:
    """One region of stand-in service ``name`` serving ``routes``.

    Adds the fault middleware, request counters and the control endpoints (``/_faults``,
    ``/_stats``, ``/_health``). Handlers raise ``StandinError`` for 4xx answers. ``rng``
    drives ``error_rate`` and jitter; by default it is seeded from ``name`` and ``region``
    so a run is repeatable. ``faults`` are the ones in force at start.

    Example::

        app = create_standin_app("catalog", "eu", [Route("/products/{product_id}", get)])
    """
    if rng is None:
        rng = random.Random(f"standin-faults:{name}:{region}")
    state = StandinState(
        service=name,
        region=region,
        faults=FaultSwitch(rng, faults),
        stats=RequestStats(region),
    )
    app = Starlette(
        routes=[
            *control_routes(name, region, state.faults, state.stats),
            *routes,
        ],
        middleware=[
            Middleware(TraceMiddleware, service=name, region=region),
            Middleware(
                FaultMiddleware,
                region=region,
                switch=state.faults,
                stats=state.stats,
                routes=routes,
            ),
        ],
        exception_handlers={
            StandinError: standin_error_handler,
            HTTPException: http_exception_handler,
        },
    )
    app.state.standin = state
    return app


def standin_state(app: Starlette) -> StandinState:
    """The ``StandinState`` of an app made by ``create_standin_app``."""
    state = getattr(app.state, "standin", None)
    if not isinstance(state, StandinState):
        raise TypeError("this app was not made by create_standin_app()")
    return state
