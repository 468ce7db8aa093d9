"""REST endpoints declared once: the route, its parameters and models, and from that
its OpenAPI description. A handler and its documentation cannot drift apart because
they come from the same ``Endpoint`` value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.cache.screens import SCOPE_KEY, ScreenCache
from shared.identity import USER_KEY
from shared.request_context import ScreenRecord, current_request

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = False
    #: A query parameter sent empty (``?region=``) is read as absent; documented as ``allowEmptyValue``.
    allow_empty: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    summary: str
    response: type[BaseModel]
    operation_id: str
    status: int = 200
    params: Sequence[Param] = ()
    body: type[BaseModel] | None = None
    #: Error statuses the handler can answer with problem+json; the document adds those
    #: of the middleware in front of it (``shared.openapi``: 400, 401, 429, ...).
    errors: Sequence[int] = ()
    tags: Sequence[str] = field(default=())
    #: ``caller``: the handler needs the caller's identity (``caller_id``; 401 without);
    #: ``anyone``: it serves without credentials (those sent are still verified).
    access: Literal["caller", "anyone"] = "caller"
    #: Keep fresh renders in the screen cache (``shared.cache.screens``). Only for a GET
    #: whose answer is made of the path, the query and upstream answers read through the
    #: response cache (and the caller's identity, which keys it per user).
    screen_cache: bool = False

    @property
    def serving_handler(self) -> Handler:
        if not self.screen_cache:
            return self.handler
        return kept_screen(
            self.handler,
            frozenset(p.name for p in self.params if p.location == "query"),
            frozenset(p.name for p in self.params if p.location == "path" and p.schema.get("type") == "integer"),
        )

    def route(self) -> Route:
        return Route(self.path, self.serving_handler, methods=[self.method], name=self.operation_id)


def kept_screen(
    handler: Handler, query_params: frozenset[str] = frozenset(), integer_path_params: frozenset[str] = frozenset()
) -> Handler:
    """``handler``, offering each fresh render to the screen cache when the screen cache
    middleware missed (it leaves the cache in the scope). Only a request in the one
    spelling of what the handler reads is kept: query parameters of ``query_params`` each
    at most once, encoded as ``urlencode`` does, and integer path parameters without a
    leading zero. Any other is answered but never kept: junk parameters, repeats, stray
    ``&`` or encoded letters must not be able to fill the cache with copies of one screen
    and push the real ones out."""

    async def render(request: Request) -> Response:
        scope = request.scope
        screens: ScreenCache | None = scope.get(SCOPE_KEY)
        opened = current_request()
        if screens is None or opened is None or not _canonical(request, query_params, integer_path_params):
            return await handler(request)
        record = opened.screen = ScreenRecord(screens.generation)
        try:
            response = await handler(request)
        finally:
            opened.screen = None
        if response.status_code == 200 and not opened.degraded and not opened.stale:
            screens.keep(
                record,
                path=scope["path"],
                query=scope["query_string"],
                user=scope.get(USER_KEY),
                body=bytes(response.body),
                headers=response.raw_headers,
                route=scope.get("route"),
            )
        return response

    return render


def _canonical(request: Request, query_params: frozenset[str], integer_path_params: frozenset[str]) -> bool:
    query = request.scope["query_string"]
    if query:
        pairs = request.query_params.multi_items()
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names) or not query_params.issuperset(names):
            return False
        if urlencode(pairs).encode("latin-1", "replace") != query:
            return False
    path_params = request.path_params
    return not any(str(path_params.get(name, ""))[:1] == "0" for name in integer_path_params)


def endpoint_routes(endpoints: Iterable[Endpoint]) -> list[Route]:
    """One Starlette route per path, whatever the number of methods on it.

    Starlette answers a method no route takes with the ``Allow`` header of the first route
    whose path matched, so ``GET`` and ``POST /v1/orders`` as two routes would answer
    ``PUT /v1/orders`` with ``Allow: GET, HEAD``; as one route it lists ``POST`` too.
    """
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, []).append(endpoint)
    return [group[0].route() if len(group) == 1 else _shared_route(path, group) for path, group in by_path.items()]


def _shared_route(path: str, endpoints: Sequence[Endpoint]) -> Route:
    handlers: dict[str, Handler] = {endpoint.method: endpoint.serving_handler for endpoint in endpoints}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]  # Starlette routes HEAD wherever GET is allowed

    async def by_method(request: Request) -> Response:
        return await handlers[request.method](request)

    name = "|".join(endpoint.operation_id for endpoint in endpoints)
    return Route(path, by_method, methods=[endpoint.method for endpoint in endpoints], name=name)


__all__ = ["Endpoint", "Handler", "Param", "endpoint_routes", "kept_screen"]
