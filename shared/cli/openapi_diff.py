"""The breaking-change check between two OpenAPI 3.1 documents: tooling, which no serving
process imports (the tests run it against the committed snapshots in docs/api).

A change within ``/v1`` must be additive: old app versions live for years.
``breaking_changes(old, new)`` names every change that could break a client built against
``old``. The rule: the new document must accept every request the old one did, and must
answer only what the old one said it could. So these are breaking:

- a removed path or operation, or a removed response status (any: clients branch on them);
- a removed required response header (``Retry-After`` on 429, ...);
- a new required parameter, a parameter that became required, or one whose schema accepts
  less (another type, an enum value removed, a bound or length tightened, a new pattern);
- a request body that became required, or a request property newly required, or one whose
  schema accepts less;
- a response property removed, or no longer always present, or whose schema may now hold
  another type (``boolean`` → ``string``, ``boolean|null`` → ``string|null``, a new
  ``null``, a new ``anyOf``/``oneOf`` branch) or a new enum value;
- security that a client's credentials no longer meet (a public operation needing a token).

Not breaking: added paths, operations, statuses, optional parameters and response properties;
removed parameters or request properties (an ignored extra); descriptions and examples; an
enum value removed from a response or added to a request. Enum values added to a response
*are* breaking by this policy: generated clients decode enums strictly.

Schemas are compared by value after resolving ``$ref`` (so renaming a model is not a change),
with ``type`` lists, ``anyOf`` and ``oneOf`` read as alternatives of one JSON type each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["request", "response"]
_ANY = "any"
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")
_MAX_DEPTH = 24


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every change from ``old`` to ``new`` that could break an existing client."""
    return _Diff(old, new).paths()


@dataclass
class _Diff:
    old: dict[str, Any]
    new: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    def paths(self) -> list[str]:
        new_paths = self.new.get("paths", {})
        for path, methods in self.old.get("paths", {}).items():
            if path not in new_paths:
                self.problems.append(f"path removed: {path}")
                continue
            for method, old_op in methods.items():
                new_op = new_paths[path].get(method)
                if new_op is None:
                    self.problems.append(f"operation removed: {method.upper()} {path}")
                else:
                    self.operation(f"{method.upper()} {path}", old_op, new_op)
        return self.problems

    def operation(self, where: str, old_op: dict[str, Any], new_op: dict[str, Any]) -> None:
        # An operation's own security replaces the document's; neither: no credentials needed.
        self.security(
            where, old_op.get("security", self.old.get("security")), new_op.get("security", self.new.get("security"))
        )
        self.parameters(where, old_op.get("parameters", []), new_op.get("parameters", []))
        self.request_body(where, old_op.get("requestBody"), new_op.get("requestBody"))
        new_responses = new_op.get("responses", {})
        for status, old_response in old_op.get("responses", {}).items():
            new_response = new_responses.get(status)
            if new_response is None:
                self.problems.append(f"{where}: response {status} removed")
                continue
            self.response_headers(f"{where} {status}", old_response, new_response)
            old_schema, new_schema = _json_schema(old_response), _json_schema(new_response)
            if old_schema is not None and new_schema is not None:
                self.schema(f"{where} {status}", old_schema, new_schema, "response")

    def security(self, where: str, old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> None:
        if new is None:
            return  # no requirement now: every old client still gets in
        met = [set(requirement) for requirement in new]
        for requirement in old if old is not None else [{}]:
            if not any(needed <= set(requirement) for needed in met):
                schemes = " + ".join(sorted(requirement)) or "no credentials"
                self.problems.append(f"{where}: security no longer met by {schemes}")

    def parameters(self, where: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        before = {_parameter_key(p): p for p in old}
        for parameter in new:
            key = _parameter_key(parameter)
            label = f"{where}: parameter {parameter['name']} ({parameter['in']})"
            previous = before.get(key)
            required = bool(parameter.get("required")) or parameter["in"] == "path"
            if required and (previous is None or not (previous.get("required") or previous["in"] == "path")):
                self.problems.append(f"{label} is newly required")
            if previous is not None:
                self.schema(label, previous.get("schema", {}), parameter.get("schema", {}), "request")

    def request_body(self, where: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None:
            return
        if new.get("required") and not (old is not None and old.get("required")):
            self.problems.append(f"{where}: request body became required")
        if old is None:
            return
        new_media = new.get("content", {})
        for media, old_content in old.get("content", {}).items():
            if media not in new_media:
                self.problems.append(f"{where}: request body {media} no longer accepted")
                continue
            self.schema(
                f"{where} request", old_content.get("schema", {}), new_media[media].get("schema", {}), "request"
            )

    def response_headers(self, where: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        new_headers = {name.lower(): header for name, header in new.get("headers", {}).items()}
        for name, header in old.get("headers", {}).items():
            if header.get("required") and not new_headers.get(name.lower(), {}).get("required"):
                self.problems.append(f"{where}: header {name} no longer always sent")

    def schema(
        self, where: str, old: dict[str, Any], new: dict[str, Any], direction: Direction, depth: int = 0
    ) -> None:
        self.problems += _Schemas(self.old, self.new).compare(where, old, new, direction, depth)


@dataclass
class _Schemas:
    old_doc: dict[str, Any]
    new_doc: dict[str, Any]

    def compare(
        self, where: str, old: dict[str, Any], new: dict[str, Any], direction: Direction, depth: int
    ) -> list[str]:
        """What a ``direction`` value of ``new`` can do that one of ``old`` could not."""
        if depth > _MAX_DEPTH:
            return []
        old_variants = _variants(old, self.old_doc)
        new_variants = _variants(new, self.new_doc)
        # A response may now hold what it could not; a request may no longer send what it could.
        produced, expected = (new_variants, old_variants) if direction == "response" else (old_variants, new_variants)
        problems: list[str] = []
        for kind, schema in produced:
            candidates = [s for k, s in expected if _covers(k, kind)]
            if not candidates:
                was = "|".join(sorted({k for k, _ in old_variants}))
                now = "|".join(sorted({k for k, _ in new_variants}))
                return [f"{where}: type changed from {was} to {now}"]
            # The closest candidate speaks for the change (several objects in a oneOf).
            found = [
                self._same_type(where, kind, *_as_old_new(schema, candidate, direction), direction, depth)
                for candidate in candidates
            ]
            best = min(found, key=len)
            problems += [p for p in best if p not in problems]
        return problems

    def _same_type(
        self, where: str, kind: str, old: dict[str, Any], new: dict[str, Any], direction: Direction, depth: int
    ) -> list[str]:
        problems = _enum_changes(where, old, new, direction)
        if direction == "request":
            problems += _narrowed(where, old, new)
        if kind == "array":
            problems += self.compare(f"{where}[]", old.get("items", {}), new.get("items", {}), direction, depth + 1)
        elif kind in ("object", _ANY):
            problems += self._object(where, old, new, direction, depth)
        return problems

    def _object(
        self, where: str, old: dict[str, Any], new: dict[str, Any], direction: Direction, depth: int
    ) -> list[str]:
        problems: list[str] = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            if name not in new_props:
                if direction == "response":
                    problems.append(f"{where}: property {name} removed")
                elif new.get("additionalProperties") is False:
                    problems.append(f"{where}: request property {name} no longer accepted")
                continue
            problems += self.compare(f"{where}.{name}", old_prop, new_props[name], direction, depth + 1)
        if direction == "response":
            for name in sorted(old_required - new_required):
                if name in new_props:
                    problems.append(f"{where}: property {name} is no longer always present")
        else:
            for name in sorted(new_required - old_required):
                problems.append(f"{where}: request property {name} is newly required")
        return problems


def _as_old_new(
    produced: dict[str, Any], expected: dict[str, Any], direction: Direction
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(old, new)`` back from ``(produced, expected)``."""
    return (expected, produced) if direction == "response" else (produced, expected)


def _variants(schema: dict[str, Any], document: dict[str, Any], depth: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """``schema`` as alternatives of one JSON type each (``any`` for an untyped one)."""
    schema = _resolve(schema, document)
    if depth > _MAX_DEPTH:
        return [(_ANY, schema)]
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        base = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        return [variant for branch in branches for variant in _variants({**base, **branch}, document, depth + 1)]
    declared = schema.get("type")
    if declared is None:
        if "const" in schema:
            declared = _json_type(schema["const"])
        elif "enum" in schema:
            declared = sorted({_json_type(value) for value in schema["enum"]})
        elif "properties" in schema:
            declared = "object"
        else:
            return [(_ANY, schema)]
    kinds = [declared] if isinstance(declared, str) else list(declared)
    return [(kind, _only(schema, kind)) for kind in kinds]


def _only(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """``schema`` restricted to values of JSON type ``kind`` (its enum filtered to them)."""
    if "enum" not in schema:
        return schema
    return {**schema, "enum": [value for value in schema["enum"] if _json_type(value) == kind]}


def _covers(expected: str, produced: str) -> bool:
    return expected in (produced, _ANY) or (expected == "number" and produced == "integer")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _enum_changes(where: str, old: dict[str, Any], new: dict[str, Any], direction: Direction) -> list[str]:
    if direction == "response":
        if "enum" not in new:
            return [f"{where}: no longer limited to enum {old['enum']}"] if "enum" in old else []
        added = [v for v in new["enum"] if "enum" in old and v not in old["enum"]]
        return [f"{where}: enum value {v!r} added to a response" for v in added]
    if "enum" not in new:
        return []
    removed = [v for v in old.get("enum", []) if v not in new["enum"]]
    problems = [f"{where}: enum value {v!r} no longer accepted" for v in removed]
    if "enum" not in old:
        problems.append(f"{where}: now limited to enum {new['enum']}")
    return problems


def _narrowed(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Bounds and patterns of a request value that now refuse what they accepted."""
    problems = []
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{where}: {key} raised to {new[key]}")
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{where}: {key} lowered to {new[key]}")
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        problems.append(f"{where}: pattern changed to {new['pattern']!r}")
    if "format" in new and new.get("format") != old.get("format"):
        problems.append(f"{where}: format changed to {new['format']!r}")
    return problems


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            break
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
    return schema


def _json_schema(container: dict[str, Any]) -> dict[str, Any] | None:
    for media, content in container.get("content", {}).items():
        if media == "application/json" or media.endswith("+json"):
            schema: dict[str, Any] = content.get("schema", {})
            return schema
    return None


def _parameter_key(parameter: dict[str, Any]) -> tuple[str, str]:
    name = parameter["name"]
    return (name.lower() if parameter["in"] == "header" else name, parameter["in"])


__all__ = ["breaking_changes"]
