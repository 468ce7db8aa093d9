"""How an upstream team declares its service: operations and the upstream spec.

An ``Operation`` is data: method, path, whether it is idempotent, the pydantic model
its JSON answer is validated into (once, with ``model_validate_json``), and its
default call policy. An ``UpstreamSpec`` groups an upstream's operations with its
default policy and the stand-in that imitates it locally::

    GET_PRODUCT = Operation(
        upstream="catalog", name="get_product", method="GET",
        path="/products/{product_id}", response=Product, idempotent=True,
    )
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from shared.pii import pii_fields
from shared.policy import CallPolicy
from shared.types import ASGIApp

ModelT = TypeVar("ModelT", bound=BaseModel)
ModelT_co = TypeVar("ModelT_co", bound=BaseModel, covariant=True)
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Params = Mapping[str, str | int]
#: Entities an answer is about, for invalidation: (path params, query params) → ["product:42"].
Tagger = Callable[[Params, Params], Sequence[str]]


@dataclass(frozen=True, slots=True)
class CallExample:
    """A valid call of an operation, used by the generic contract test against the stand-in.

    ``setup``, for an operation whose valid call needs state in the service first (an
    OAuth authorization code, say), creates that state through the stand-in at the base
    URL it is given and returns the example to call instead."""

    path_params: Mapping[str, str | int] = field(default_factory=dict)
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    setup: Callable[[str], Awaitable[CallExample]] | None = None


@dataclass(frozen=True, slots=True)
class Operation(Generic[ModelT_co]):
    """One call an upstream offers. ``path`` may hold ``{name}`` placeholders."""

    upstream: str
    name: str
    method: Method
    path: str
    response: type[ModelT_co]
    #: Safe to repeat: may be retried and failed over. Writes are not, unless the
    #: request carries an Idempotency-Key.
    idempotent: bool
    #: This operation's default policy; ``None`` uses the upstream's default.
    policy: CallPolicy | None = None
    #: A call that must succeed against the stand-in (the contract test makes it).
    example: CallExample | None = None
    #: Entities an answer is about, so an invalidation event for one drops it from the cache.
    tags: Tagger | None = None

    def render_path(self, path_params: Mapping[str, str | int] | None) -> str:
        if not path_params:
            return self.path
        return self.path.format_map({k: quote(str(v), safe="") for k, v in path_params.items()})

    def parse(self, body: bytes) -> ModelT_co:
        """Validate the upstream's JSON body into the response model (raises ValidationError)."""
        return self.response.model_validate_json(body)

    @property
    def pii_fields(self) -> list[str]:
        return _pii_fields(self.response)

    @property
    def schema_version(self) -> str:
        """A short hash of the response model's schema: a model change starts new cache keys."""
        return _schema_version(self.response)

    def cache_tags(self, path_params: Params | None, params: Params | None) -> Sequence[str]:
        return self.tags(path_params or {}, params or {}) if self.tags is not None else ()

    @property
    def key(self) -> str:
        return f"{self.upstream}.{self.name}"


@functools.cache
def _pii_fields(model: type[BaseModel]) -> list[str]:
    return pii_fields(model)


@functools.cache
def _schema_version(model: type[BaseModel]) -> str:
    schema = repr(sorted(model.model_json_schema().items())).encode()
    return "s" + hashlib.blake2b(schema, digest_size=4).hexdigest()


StandinFactory = Callable[[Sequence[str]], Mapping[str, ASGIApp]]


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """Everything the runtime needs to know about one upstream service."""

    name: str
    description: str
    operations: tuple[Operation[BaseModel], ...]
    #: Region name → base URL used when the process config names none: the local stand-ins.
    local_regions: Mapping[str, str]
    #: Module whose ``create_standins(regions)`` builds the stand-in apps, one per region
    #: (same data, separate faults). Imported only when stand-ins are served.
    standin_module: str
    policy: CallPolicy = field(default_factory=CallPolicy)

    def create_standins(self, regions: Sequence[str]) -> Mapping[str, ASGIApp]:
        factory: StandinFactory = importlib.import_module(self.standin_module).create_standins
        return factory(regions)

    def operation(self, name: str) -> Operation[BaseModel]:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)

    @property
    def operation_names(self) -> list[str]:
        return [op.name for op in self.operations]


__all__ = ["CallExample", "Method", "Operation", "Params", "StandinFactory", "Tagger", "UpstreamSpec"]
