"""OpenAPI 3.1 documents built from ``Endpoint`` declarations and pydantic models,
and the breaking-change check that guards the committed snapshot.

A change within ``/v1`` must be additive. ``breaking_changes(old, new)`` names every
change that could break a client built against ``old``: a removed path or method, a
removed response property, a changed property type, or a newly required parameter or
request property.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.endpoints import Endpoint, Param
from shared.problems import PROBLEM_MEDIA_TYPE

_REF = "#/components/schemas/{model}"
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "field": {"type": "string"},
    },
}
_ERROR_TEXT = {
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Malformed parameter, header or body",
    401: "Caller identity missing or invalid",
    404: "Not found",
    413: "Request body too large",
    422: "Request is well-formed but cannot be processed",
    500: "Unexpected error",
    502: "An upstream answered with an error or garbage",
    503: "A required upstream is unavailable",
    504: "A required upstream timed out",
}


def build_openapi(title: str, version: str, description: str, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    models = _models(endpoints)
    _, defs = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    schemas = dict(sorted(defs.get("$defs", {}).items()))
    schemas["Problem"] = _PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }


def _models(endpoints: Iterable[Endpoint]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for endpoint in endpoints:
        for model in (endpoint.response, endpoint.body):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": endpoint.summary,
            "content": {"application/json": {"schema": _ref(endpoint.response)}},
        }
    }
    if endpoint.method == "GET":
        responses["304"] = {"description": _ERROR_TEXT[304]}
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}}
    for status in sorted({400, 500, *endpoint.errors}):
        responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), "content": problem_content}
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "parameters": [_parameter(p) for p in endpoint.params],
        "responses": responses,
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return operation


def _parameter(param: Param) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": param.name,
        "in": param.location,
        "required": param.required or param.location == "path",
        "description": param.description,
        "schema": param.schema,
    }
    if param.allow_empty:
        described["allowEmptyValue"] = True
    return described


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every change from ``old`` to ``new`` that could break an existing client."""
    problems: list[str] = []
    old_schemas = old.get("components", {}).get("schemas", {})
    new_schemas = new.get("components", {}).get("schemas", {})
    for path, methods in old.get("paths", {}).items():
        new_methods = new.get("paths", {}).get(path)
        if new_methods is None:
            problems.append(f"path removed: {path}")
            continue
        for method, old_op in methods.items():
            new_op = new_methods.get(method)
            if new_op is None:
                problems.append(f"operation removed: {method.upper()} {path}")
                continue
            where = f"{method.upper()} {path}"
            problems += _parameter_changes(where, old_op, new_op)
            for status, old_resp in old_op.get("responses", {}).items():
                new_resp = new_op.get("responses", {}).get(status)
                if new_resp is None:
                    problems.append(f"{where}: response {status} removed")
                    continue
                old_schema = _json_schema(old_resp)
                new_schema = _json_schema(new_resp)
                if old_schema and new_schema:
                    problems += _schema_changes(
                        f"{where} {status}", old_schema, new_schema, old_schemas, new_schemas, output=True
                    )
            old_body, new_body = _json_schema(old_op.get("requestBody")), _json_schema(new_op.get("requestBody"))
            if new_body and not old_body:
                problems.append(f"{where}: request body became required")
            elif old_body and new_body:
                problems += _schema_changes(
                    f"{where} request", old_body, new_body, old_schemas, new_schemas, output=False
                )
    return problems


def _parameter_changes(where: str, old_op: dict[str, Any], new_op: dict[str, Any]) -> list[str]:
    old_params = {(p["name"], p["in"]): p for p in old_op.get("parameters", [])}
    problems = []
    for p in new_op.get("parameters", []):
        before = old_params.get((p["name"], p["in"]))
        if p.get("required") and (before is None or not before.get("required")):
            problems.append(f"{where}: parameter {p['name']} ({p['in']}) is newly required")
        if before is not None and before.get("schema", {}).get("type") != p.get("schema", {}).get("type"):
            problems.append(f"{where}: parameter {p['name']} changed type")
    return problems


def _json_schema(container: dict[str, Any] | None) -> dict[str, Any] | None:
    if not container:
        return None
    content = container.get("content", {})
    for media in ("application/json", PROBLEM_MEDIA_TYPE):
        if media in content:
            schema: dict[str, Any] = content[media].get("schema", {})
            return schema
    return None


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 32:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    return schema


def _schema_changes(
    where: str,
    old: dict[str, Any],
    new: dict[str, Any],
    old_schemas: dict[str, Any],
    new_schemas: dict[str, Any],
    *,
    output: bool,
    depth: int = 0,
) -> list[str]:
    if depth > 12:
        return []
    old, new = _resolve(old, old_schemas), _resolve(new, new_schemas)
    problems = []
    if old.get("type") != new.get("type"):
        return [f"{where}: type changed from {old.get('type')} to {new.get('type')}"]
    if old.get("type") == "array":
        return _schema_changes(
            f"{where}[]",
            old.get("items", {}),
            new.get("items", {}),
            old_schemas,
            new_schemas,
            output=output,
            depth=depth + 1,
        )
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            if output:
                problems.append(f"{where}: property {name} removed")
            continue
        problems += _schema_changes(
            f"{where}.{name}", old_prop, new_props[name], old_schemas, new_schemas, output=output, depth=depth + 1
        )
    if output:
        for name in old.get("required", []):
            if name in new_props and name not in new.get("required", []):
                problems.append(f"{where}: property {name} is no longer always present")
    else:
        for name in new.get("required", []):
            if name not in old.get("required", []):
                problems.append(f"{where}: request property {name} is newly required")
    return problems


__all__ = ["breaking_changes", "build_openapi"]
