"""The PII inventory matches what the code marks and what the processes expose.

These compare the declarations with the code; tests/shared/test_pii_leaks.py compares them
with what the running processes' answers really show (REST and GraphQL)."""

from typing import Any

import graphql
from pydantic import BaseModel

from bff_web.graphql.schema import sdl
from shared.pii_report import inventory
from shared.process import discover_processes
from upstreams.registry import registered_upstreams


def exposures() -> dict[str, Any]:
    return {name: spec.pii_exposures() for name, spec in discover_processes().items()}


def test_every_marked_field_is_in_the_inventory() -> None:
    listed = {(e.operation, e.name) for e in inventory(registered_upstreams(), exposures())}
    marked = {(op.key, f) for spec in registered_upstreams() for op in spec.operations for f in op.pii_fields}
    assert listed == marked
    assert ("accounts.get_user", "email") in marked


def test_cached_pii_is_always_sealed() -> None:
    for entry in inventory(registered_upstreams(), exposures()):
        assert entry.cached == "not cached" or "sealed with AES-256-GCM" in entry.cached


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
