"""JSON answers and errors of the stand-ins.

Errors are ``{"error": "<code>", "detail": "<what to fix>"}`` with a 4xx status: a
stable machine-readable code and a sentence for the person reading the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["StandinError", "error_response", "http_exception_handler", "json_response"]

_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


class StandinError(Exception):
    """A request the stand-in refuses; rendered as ``{"error": code, "detail": ...}``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


def json_response(content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Serialize ``content`` with orjson (the stand-ins' hot path)."""
    return Response(orjson.dumps(content), status_code, headers, media_type="application/json")


def error_response(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """The stand-ins' error body with ``status``."""
    return json_response({"error": error, "detail": detail}, status, headers)


async def standin_error_handler(request: Request, exc: Exception) -> Response:
    """Render a ``StandinError`` raised by a handler."""
    assert isinstance(exc, StandinError)
    return error_response(exc.status, exc.error, exc.detail)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Render Starlette's own errors (unknown path, wrong method) in the same shape."""
    assert isinstance(exc, HTTPException)
    error = _HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = f"{exc.detail}: {request.method} {request.url.path}"
    return error_response(exc.status_code, error, detail, exc.headers)
