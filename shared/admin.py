"""The admin API for SREs, under ``/admin``, behind a bearer token from config.

::

    GET  /admin/config                         effective config (secrets redacted) and policies
    GET  /admin/breakers                       every breaker: upstream × region, state, window counts
    PUT  /admin/breakers/{upstream}/{region}   {"force": "open" | "closed" | null}
    GET  /admin/upstreams                      bulkhead, retry budget, answers served per region
    POST /admin/reload                         re-read the config file now (as SIGHUP does)
    GET  /admin/cache                          backend, its breaker, counters per operation
    POST /admin/cache/invalidate               {"entity": "product:42"} or {"operation": "catalog.get_product"}
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from shared.errors import ConfigError, Forbidden, NotFound, Unauthenticated
from shared.inputs import json_body
from shared.problems import problem
from shared.responses import JSONResponse
from shared.runtime import Runtime
from shared.upstream_client import UpstreamClient


class ForceBreaker(BaseModel):
    force: Literal["open", "closed"] | None


def _runtime(request: Request) -> Runtime[Any]:
    runtime: Runtime[Any] = request.state.runtime
    token = runtime.settings.admin.token
    if token is None:
        raise Forbidden("the admin API is disabled: set admin.token (or BFF_ADMIN__TOKEN) to enable it")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("the admin API needs 'Authorization: Bearer <admin.token>'", field="Authorization")
    return runtime


def _client(runtime: Runtime[Any], upstream: str) -> UpstreamClient:
    if upstream not in runtime.upstreams:
        raise NotFound(f"no upstream {upstream!r}; known: {sorted(runtime.upstreams)}")
    return runtime.upstreams[upstream]


async def config(request: Request) -> Response:
    runtime = _runtime(request)
    effective = {
        name: {
            "regions": {r.name: r.base_url for r in client.regions},
            "upstream_policy": client.config.upstream_policy.model_dump(mode="json"),
            "operations": {op: p.model_dump(mode="json") for op, p in client.config.policies.items()},
        }
        for name, client in runtime.upstreams.items()
    }
    return JSONResponse(
        {
            "settings": runtime.settings.model_dump(mode="json"),
            "effective_upstreams": effective,
            "reloads": runtime.reloads,
            "last_reload_error": runtime.last_reload_error,
        }
    )


def _breaker_view(runtime: Runtime[Any]) -> list[dict[str, Any]]:
    return [
        {"upstream": name, "region": region, **breaker.snapshot(), "policy": breaker.policy.model_dump(mode="json")}
        for name, client in runtime.upstreams.items()
        for region, breaker in client.breakers.items()
    ]


async def breakers(request: Request) -> Response:
    return JSONResponse(_breaker_view(_runtime(request)))


async def force_breaker(request: Request) -> Response:
    runtime = _runtime(request)
    client = _client(runtime, request.path_params["upstream"])
    region = request.path_params["region"]
    breaker = client.breakers.get(region)
    if breaker is None:
        raise NotFound(f"no region {region!r} for {client.name}; known: {sorted(client.breakers)}")
    body = await json_body(request, ForceBreaker)
    breaker.force(body.force)
    return JSONResponse({"upstream": client.name, "region": region, **breaker.snapshot()})


async def upstreams(request: Request) -> Response:
    runtime = _runtime(request)
    view = {}
    for name, client in runtime.upstreams.items():
        served: dict[str, dict[str, int]] = {}
        for (operation, region), count in sorted(client.served.items()):
            served.setdefault(operation, {})[region] = count
        view[name] = {
            "failover_order": [r.name for r in client.regions],
            "bulkhead": {
                "in_use": client.bulkhead.in_use,
                "max_concurrent": client.bulkhead.policy.max_concurrent,
                "rejected": client.bulkhead.rejected,
            },
            "retry_budget": {"allowed_in_window": client.budget.allowed(), "exhausted": client.budget.exhausted},
            "served_by_region": served,
        }
    return JSONResponse(view)


async def reload(request: Request) -> Response:
    runtime = _runtime(request)
    try:
        notes = runtime.reload()
    except ConfigError as exc:
        return problem(
            422,
            "config-refused",
            "Configuration refused",
            "the running configuration stays in force",
            extra={"problems": [{"key": key, "reason": reason} for key, reason in exc.problems]},
        )
    return JSONResponse({"status": "reloaded", "reloads": runtime.reloads, "notes": notes})


class Invalidation(BaseModel):
    entity: str | None = Field(default=None, min_length=1, max_length=200)
    operation: str | None = Field(default=None, pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")

    @model_validator(mode="after")
    def _exactly_one(self) -> Invalidation:
        if (self.entity is None) == (self.operation is None):
            raise ValueError("give exactly one of 'entity' or 'operation'")
        return self


async def cache(request: Request) -> Response:
    runtime = _runtime(request)
    response_cache = runtime.upstreams.cache
    return JSONResponse(response_cache.snapshot() if response_cache is not None else {"backend": None})


async def invalidate(request: Request) -> Response:
    runtime = _runtime(request)
    body = await json_body(request, Invalidation)
    response_cache = runtime.upstreams.cache
    if response_cache is None:
        return JSONResponse({"deleted": 0})
    if body.entity is not None:
        deleted = await response_cache.invalidate_entity(body.entity)
    else:
        assert body.operation is not None
        deleted = await response_cache.invalidate_operation(body.operation)
    return JSONResponse({"deleted": deleted})


def admin_routes() -> list[BaseRoute]:
    return [
        Mount(
            "/admin",
            routes=[
                Route("/config", config, methods=["GET"]),
                Route("/breakers", breakers, methods=["GET"]),
                Route("/breakers/{upstream}/{region}", force_breaker, methods=["PUT"]),
                Route("/upstreams", upstreams, methods=["GET"]),
                Route("/reload", reload, methods=["POST"]),
                Route("/cache", cache, methods=["GET"]),
                Route("/cache/invalidate", invalidate, methods=["POST"]),
            ],
        )
    ]


__all__ = ["admin_routes"]
