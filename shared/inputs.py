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

from shared.errors import BadRequest, UnprocessableContent, UnsupportedMediaType

ModelT = TypeVar("ModelT", bound=BaseModel)
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# RFC 9110 section 8.3.1: type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] ),
# a token being a run of _NAME_CHARS.
_NAME_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"[ \t]*({_NAME_CHARS}/{_NAME_CHARS})[ \t]*((?:;.*)?)", re.DOTALL)
_PARAMETER = re.compile(rf'[ \t]*(?:({_NAME_CHARS})=({_NAME_CHARS}|"(?:[^"\\]|\\.)*"))?[ \t]*')
#: The largest value ``path_int`` accepts (it reads at most 12 digits); endpoints document it as ``maximum``.
PATH_INT_MAX = 999_999_999_999


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    # Plain ASCII digits only: int() would also take " 7", "1_000", Arabic-Indic digits, and
    # spend quadratic time on thousands of digits before refusing them.
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw[:40]!r}", field=name)
    value = int(raw)
    if not minimum <= value <= maximum:
        raise BadRequest(f"query parameter {name!r} must be between {minimum} and {maximum}, got {value}", field=name)
    return value


def path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise BadRequest(f"path parameter {name!r} must be a positive integer, got {raw!r}", field=name)
    return int(raw)


def idempotency_key(request: Request) -> str:
    keys = request.headers.getlist("idempotency-key")
    if not keys:
        raise BadRequest("header 'Idempotency-Key' is required for this request", field="Idempotency-Key")
    if len(keys) > 1:
        # Two keys are ambiguous: whichever one were chosen, a retry could be run twice.
        raise BadRequest("header 'Idempotency-Key' must be sent once", field="Idempotency-Key")
    key = keys[0]
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest(
            "header 'Idempotency-Key' must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'",
            field="Idempotency-Key",
        )
    return key


def is_json_media_type(content_type: str) -> bool:
    """Whether a ``Content-Type`` value is ``application/json``, with at most a
    ``charset=utf-8`` parameter (names and values case-insensitive, the value may be quoted).

    >>> is_json_media_type('Application/JSON; charset="UTF-8"'), is_json_media_type("application/jsonx")
    (True, False)
    """
    whole = _MEDIA_TYPE.fullmatch(content_type)
    if whole is None or whole.group(1).lower() != "application/json":
        return False
    charsets = []
    for raw in whole.group(2).split(";")[1:]:  # a quoted ";" leaves an unmatched half: refused
        parameter = _PARAMETER.fullmatch(raw)
        if parameter is None:
            return False
        name, value = parameter.groups()
        if name is None:  # an empty parameter (RFC 9110 allows "; ;")
            continue
        if name.lower() != "charset":
            return False
        charsets.append(value.removeprefix('"').removesuffix('"').lower())
    return charsets in ([], ["utf-8"])


def json_content_type_error(request: Request) -> tuple[str, str] | None:
    """Why the request's body is not plain ``application/json`` (UTF-8, sent once, with no
    content coding): ``(message, header)``, or ``None`` when it is."""
    values = request.headers.getlist("content-type")
    if len(values) != 1 or not is_json_media_type(values[0]):
        got = "none" if not values else ", ".join(repr(value[:60]) for value in values)
        return f"the body must be sent as 'Content-Type: application/json' (charset utf-8 if any), got {got}", (
            "Content-Type"
        )
    # No content coding is decoded here: a gzip body read as JSON would be parsed as
    # something it is not (RFC 9110 section 8.4: 415 for a coding the server does not take).
    codings = [
        coding.strip().lower()
        for value in request.headers.getlist("content-encoding")
        for coding in value.split(",")
        if coding.strip()
    ]
    if any(coding != "identity" for coding in codings):
        got = ", ".join(repr(value[:60]) for value in request.headers.getlist("content-encoding"))
        return f"the body must be sent without a content coding, got Content-Encoding {got}", "Content-Encoding"
    return None


def require_json_content_type(request: Request) -> None:
    """415 unless the request says its body is ``application/json`` (UTF-8), exactly once,
    with no content coding."""
    error = json_content_type_error(request)
    if error is not None:
        message, header = error
        raise UnsupportedMediaType(message, field=header)


async def json_body(request: Request, model: type[ModelT]) -> ModelT:
    """Read and validate a JSON object body: 415 for any other Content-Type (or none),
    400 for a body that is not JSON, 422 for JSON of the wrong shape, naming the field."""
    require_json_content_type(request)
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


__all__ = [
    "PATH_INT_MAX",
    "idempotency_key",
    "is_json_media_type",
    "json_body",
    "json_content_type_error",
    "path_int",
    "query_int",
    "require_json_content_type",
]
