"""REST endpoints declared once: the route, its parameters and models, and from that
its OpenAPI description. A handler and its documentation cannot drift apart because
they come from the same ``Endpoint`` value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = False


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
    #: Error statuses this endpoint can answer with problem+json, beyond 400/500.
    errors: Sequence[int] = ()
    tags: Sequence[str] = field(default=())

    def route(self) -> Route:
        return Route(self.path, self.handler, methods=[self.method], name=self.operation_id)


__all__ = ["Endpoint", "Handler", "Param"]
