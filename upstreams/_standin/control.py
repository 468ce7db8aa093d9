"""Control endpoints of a stand-in region: switch faults, read counters, health.

They live under ``/_`` and are never subject to faults, so a test can always repair
what it broke::

    PUT    /_faults   {"latency_ms": 300, "error_rate": 0.5}   replace the faults
    GET    /_faults                                             the faults in force
    DELETE /_faults                                             no faults
    GET    /_stats    {"region": "eu", "requests": 3, "by_route": {...}}
    DELETE /_stats                                              zero the counters
    GET    /_health   {"status": "ok", ...}
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin.faults import Faults, FaultSwitch
from upstreams._standin.params import validation_problem
from upstreams._standin.responses import StandinError, json_response
from upstreams._standin.stats import RequestStats

__all__ = ["control_routes"]


def control_routes(service: str, region: str, switch: FaultSwitch, stats: RequestStats) -> list[Route]:
    """The ``/_faults``, ``/_stats`` and ``/_health`` routes of one stand-in region."""

    async def get_faults(request: Request) -> Response:
        return json_response(switch.current.model_dump())

    async def put_faults(request: Request) -> Response:
        try:
            faults = Faults.model_validate_json(await request.body())
        except ValidationError as exc:
            problem = validation_problem(exc, "invalid_faults")
            if problem.status == 422:
                fields = ", ".join(Faults.model_fields)
                detail = f"{problem.detail}. Faults has the fields {fields}"
                problem = StandinError(422, problem.error, detail)
            raise problem from exc
        switch.set(faults)
        return json_response(faults.model_dump())

    async def delete_faults(request: Request) -> Response:
        switch.clear()
        return json_response(switch.current.model_dump())

    async def get_stats(request: Request) -> Response:
        return json_response(stats.snapshot())

    async def delete_stats(request: Request) -> Response:
        stats.reset()
        return json_response(stats.snapshot())

    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "service": service, "region": region})

    return [
        Route("/_faults", get_faults, methods=["GET"]),
        Route("/_faults", put_faults, methods=["PUT"]),
        Route("/_faults", delete_faults, methods=["DELETE"]),
        Route("/_stats", get_stats, methods=["GET"]),
        Route("/_stats", delete_stats, methods=["DELETE"]),
        Route("/_health", health, methods=["GET"]),
    ]
