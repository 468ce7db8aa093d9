"""Liveness and readiness.

``/livez`` answers 200 while the process can run Python at all. ``/readyz`` answers
200 only between the end of start-up and the start of draining, so a gateway or
Kubernetes sends traffic only to an instance that can serve it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.responses import JSONResponse


class Readiness:
    """Whether this instance should receive traffic. Flipped by the lifespan."""

    def __init__(self) -> None:
        self.ready = False
        self.reason = "starting"

    def mark_ready(self) -> None:
        self.ready, self.reason = True, "ready"

    def mark_draining(self) -> None:
        self.ready, self.reason = False, "draining"


def health_routes(readiness: Readiness) -> list[Route]:
    async def livez(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request) -> Response:
        status = 200 if readiness.ready else 503
        return JSONResponse({"status": readiness.reason}, status_code=status)

    return [Route("/livez", livez, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]


__all__ = ["Readiness", "health_routes"]
