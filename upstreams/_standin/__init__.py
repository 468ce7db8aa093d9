"""The stand-in framework: imitations of other teams' upstream services.

A stand-in is a real HTTP service (Starlette, served by uvicorn) with seeded,
deterministic data, one app per region, whose faults can be switched at run time over
HTTP (``PUT /_faults``) or directly (``standin_state(app).faults``). Each upstream
package builds its stand-in with ``create_standin_app`` in ``upstreams/<name>/standin.py``.
"""

from upstreams._standin.app import StandinState, create_standin_app, standin_state
from upstreams._standin.cluster import StandinCluster
from upstreams._standin.faults import NO_FAULTS, Faults, FaultSwitch
from upstreams._standin.idempotency import IDEMPOTENCY_HEADER, IdempotencyStore, idempotency_key
from upstreams._standin.params import json_body, path_int, query_choice, query_ids, query_int
from upstreams._standin.responses import StandinError, error_response, json_response
from upstreams._standin.stats import RequestStats

__all__ = [
    "IDEMPOTENCY_HEADER",
    "NO_FAULTS",
    "FaultSwitch",
    "Faults",
    "IdempotencyStore",
    "RequestStats",
    "StandinCluster",
    "StandinError",
    "StandinState",
    "create_standin_app",
    "error_response",
    "idempotency_key",
    "json_body",
    "json_response",
    "path_int",
    "query_choice",
    "query_ids",
    "query_int",
    "standin_state",
]
