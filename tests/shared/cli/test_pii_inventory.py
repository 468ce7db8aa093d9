"""The PII inventory matches what the code marks and what the processes expose.

These compare the declarations with the code; tests/shared/test_pii_leaks.py compares them
with what the running processes' answers really show (REST and GraphQL)."""

from collections.abc import Sequence
from typing import Any

import graphql
import httpx
from pydantic import BaseModel

from bff_web.graphql.schema import sdl
from shared import CallPolicy, Deadline, Region, UpstreamClient, UpstreamConfig
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.response_cache import ResponseCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.cli.pii_report import inventory
from shared.http.httpx_transport import HttpxTransport
from shared.policy import BreakerPolicy
from shared.process import discover_processes
from shared.settings import CacheSettings
from shared.upstream_set import effective_policies
from upstreams.registry import registered_upstreams


def exposures() -> dict[str, Any]:
    return {name: spec.pii_exposures() for name, spec in discover_processes().items()}


def test_every_marked_field_is_in_the_inventory() -> None:
    listed = {(e.operation, e.name) for e in inventory(registered_upstreams(), exposures())}
    marked = {(op.key, f) for spec in registered_upstreams() for op in spec.operations for f in op.pii_fields}
    assert listed == marked
    assert ("accounts.get_user", "email") in marked


class PlaintextSealer(Sealer):
    """Writes entries as they are: what a cache that forgot to seal PII would store."""

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return plaintext


def pii_values(answer: BaseModel, fields: Sequence[str]) -> list[str]:
    values = []
    for dotted in fields:
        value: Any = answer.model_dump(mode="json")
        for part in dotted.split("."):
            value = value[part]
        values.append(str(value))
    return values


async def plaintext_pii_in_the_cache(sealer: Sealer) -> dict[str, list[str]]:
    """Every operation the inventory says caches PII, called through the real upstream
    client and response cache against its stand-in (in process); for each, the PII values
    of its answer found in plain text in the raw store."""
    cached_pii = {e.operation for e in inventory(registered_upstreams(), exposures()) if e.cached != "not cached"}
    found: dict[str, list[str]] = {}
    for spec in registered_upstreams():
        policies = effective_policies(spec, None)
        for op in spec.operations:
            if op.key not in cached_pii:
                continue
            assert op.example is not None and op.example.setup is None, op.key
            store = MemoryStore(100)
            cache = ResponseCache(
                GuardedStore(store, op_timeout=1, breaker=BreakerPolicy()),
                CacheKeys("pii", b"k" * 32),
                sealer,
                CacheSettings(),
            )
            region, app = next(iter(spec.create_standins(["a"]).items()))
            transport = HttpxTransport(transport=httpx.ASGITransport(app=app))
            config = UpstreamConfig(
                (Region(region, "http://standin"),), dict(policies), policies.get(op.name, CallPolicy())
            )
            client = UpstreamClient(spec.name, config, transport, cache=cache)
            try:
                answer = await client.call(
                    op,
                    path_params=op.example.path_params,
                    params=op.example.params,
                    deadline=Deadline.after(5),
                    cache_user=7,
                )
            finally:
                await transport.aclose()
            stored = [await store.get(key) or b"" for key in await store.keys_with_prefix("pii:")]
            assert stored, f"{op.key} left nothing in the cache: nothing was checked"
            found[op.key] = [v for v in pii_values(answer, op.pii_fields) if any(v.encode() in raw for raw in stored)]
    return found


async def test_cached_pii_is_always_sealed() -> None:
    found = await plaintext_pii_in_the_cache(Sealer.ephemeral())
    assert "accounts.get_user" in found
    assert found == {operation: [] for operation in found}


async def test_the_sealing_check_finds_pii_a_cache_stores_in_plain_text() -> None:
    # What the test above guards against, shown to be caught.
    found = await plaintext_pii_in_the_cache(PlaintextSealer.ephemeral())
    assert found["accounts.get_user"]


def field_exists(model: type[BaseModel], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    info = model.model_fields.get(head)
    if info is None:
        return False
    if not rest:
        return True
    annotation = info.annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and field_exists(annotation, rest)


def test_every_declared_rest_exposure_names_a_real_response_field() -> None:
    for name, spec in discover_processes().items():
        endpoints = {f"{e['method']} {e['path']}": e for e in _endpoints(spec.openapi())}
        for exposure in spec.pii_exposures():
            if exposure.where.startswith("graphql"):
                continue
            assert exposure.where in endpoints, (name, exposure)
            module = __import__(f"bff_{name}.schemas", fromlist=["x"])
            model = getattr(module, endpoints[exposure.where]["model"])
            assert field_exists(model, exposure.field), (name, exposure)


def test_every_declared_graphql_exposure_names_a_real_schema_field() -> None:
    schema = graphql.build_schema(sdl())
    declared = [
        e for spec in discover_processes().values() for e in spec.pii_exposures() if e.where.startswith("graphql")
    ]
    assert declared
    for exposure in declared:
        type_name, _, field_name = exposure.where.removeprefix("graphql ").partition(".")
        current: graphql.GraphQLNamedType | None = schema.get_type(type_name)
        for name in [field_name, *exposure.field.split(".")]:
            assert isinstance(current, graphql.GraphQLObjectType) and name in current.fields, (exposure, name)
            current = graphql.get_named_type(current.fields[name].type)


def _endpoints(document: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            ok = next(iter(operation["responses"].values()))
            if "application/json" not in ok.get("content", {}):
                continue  # a redirect or 204 (the sign-in routes): no response fields
            ref = ok["content"]["application/json"]["schema"]["$ref"]
            found.append({"method": method.upper(), "path": path, "model": ref.rsplit("/", 1)[-1]})
    return found


def test_shown_fields_come_only_from_marked_fields() -> None:
    marked = {(op.key, f) for spec in registered_upstreams() for op in spec.operations for f in op.pii_fields}
    for declared in exposures().values():
        for exposure in declared:
            assert (exposure.operation, exposure.source) in marked
