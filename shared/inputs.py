"""Parsing client input into typed values, with errors that name the field.

Handlers stay thin: each line turns one piece of the request into a value or a
``BadRequest``/``UnprocessableContent`` that says which field and what is allowed.
"""

from __future__ import annotations

import re
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from shared.errors import BadRequest, UnprocessableContent

ModelT = TypeVar("ModelT", bound=BaseModel)
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: The largest value ``path_int`` accepts (it reads at most 12 digits); endpoints document it as ``maximum``.
PATH_INT_MAX = 999_999_999_999


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw!r}", field=name) from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"query parameter {name!r} must be between {minimum} and {maximum}, got {value}", field=name)
    return value


def path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise BadRequest(f"path parameter {name!r} must be a positive integer, got {raw!r}", field=name)
    return int(raw)


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise BadRequest("header 'Idempotency-Key' is required for this request", field="Idempotency-Key")
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest(
            "header 'Idempotency-Key' must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'",
            field="Idempotency-Key",
        )
    return key


async def json_body(request: Request, model: type[ModelT]) -> ModelT:
    """Read and validate a JSON body: 415 is not used; a non-JSON body is a 400."""
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.lower().startswith("application/json"):
        raise BadRequest(f"the body must be application/json, got {content_type!r}", field="body")
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at position {exc.pos}", field="body") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UnprocessableContent(f"{field}: {first['msg']}{more}", field=field) from None


__all__ = ["PATH_INT_MAX", "idempotency_key", "json_body", "path_int", "query_int"]
