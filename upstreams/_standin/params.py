"""Parse path and query parameters strictly, failing with a 400 that names the problem."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from upstreams._standin.responses import StandinError

__all__ = ["json_body", "path_int", "query_choice", "query_ids", "query_int", "validation_problem"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def _parse_int(raw: str) -> int | None:
    # int() also accepts " 7", "+7", "1_000" and non-ASCII digits; an id is plain digits.
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def path_int(request: Request, name: str) -> int:
    """Path parameter ``name`` as a non-negative int; 400 ``invalid_<name>`` otherwise."""
    raw: str = request.path_params[name]
    value = _parse_int(raw)
    if value is None:
        raise StandinError(400, f"invalid_{name}", f"{name} must be an integer, got {raw!r}")
    return value


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """Query parameter ``name`` in ``minimum..maximum``; 400 ``invalid_<name>`` otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = _parse_int(raw)
    if value is None or not minimum <= value <= maximum:
        raise StandinError(
            400,
            f"invalid_{name}",
            f"{name} must be an integer from {minimum} to {maximum}, got {raw!r}",
        )
    return value


def query_ids(request: Request, name: str = "ids", *, max_count: int = 100) -> list[int]:
    """Comma-separated ids (``?ids=1,2,3``), in the order given.

    400 ``invalid_<name>`` when missing, empty or not all integers; 400
    ``too_many_<name>`` beyond ``max_count``.
    """
    raw = request.query_params.get(name)
    if not raw:
        raise StandinError(400, f"invalid_{name}", f"{name} is required: comma-separated ids like 1,2,3")
    parts = raw.split(",")
    if len(parts) > max_count:
        raise StandinError(400, f"too_many_{name}", f"at most {max_count} {name} per request, got {len(parts)}")
    ids = [_parse_int(part) for part in parts]
    bad = [part for part, value in zip(parts, ids, strict=True) if value is None]
    if bad:
        raise StandinError(
            400,
            f"invalid_{name}",
            f"{name} must be comma-separated integers like 1,2,3; not integers: {bad[:5]}",
        )
    return [value for value in ids if value is not None]


def query_choice(request: Request, name: str, choices: Collection[str]) -> str:
    """Required query parameter ``name`` from ``choices``; 400 ``invalid_<name>`` otherwise."""
    raw = request.query_params.get(name)
    if raw is None or raw not in choices:
        allowed = ", ".join(sorted(choices))
        raise StandinError(400, f"invalid_{name}", f"{name} must be one of {allowed}, got {raw!r}")
    return raw


def validation_problem(exc: ValidationError, error: str) -> StandinError:
    """A 422 ``error`` naming each invalid field (400 ``invalid_json`` for broken JSON)."""
    problems = []
    for problem in exc.errors(include_url=False):
        if problem["type"] == "json_invalid":
            return StandinError(400, "invalid_json", f"the body must be JSON: {problem['msg']}")
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        problems.append(f"{field}: {problem['msg']} (got {problem['input']!r})")
    return StandinError(422, error, "; ".join(problems))


async def json_body(request: Request, model: type[ModelT], error: str) -> ModelT:
    """The request body validated as ``model``; see ``validation_problem`` for errors."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise validation_problem(exc, error) from exc
