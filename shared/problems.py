"""RFC 9457 problem details for every error a client can see.

Handlers are registered on base classes (Starlette walks the MRO), so a new error
subclass is rendered correctly without touching this module. No response ever carries
a stack trace or an upstream's internals; those go to the log with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import ClientError, UpstreamError, UpstreamRejected
from shared.identity import CHALLENGE_KEY
from shared.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:problem-type:bff:"
log = logging.getLogger("bff.errors")

_HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("content-too-large", "Content too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable-content", "Unprocessable content"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def client_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    extra = {"field": exc.field} if exc.field else None
    # RFC 9110 §15.5.2: a 401 says how to authenticate (set by the auth middleware in jwt mode).
    challenge = request.scope.get(CHALLENGE_KEY) if exc.status == 401 else None
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return problem(
        exc.status, exc.type_slug, exc.title, exc.detail, instance=request.url.path, extra=extra, headers=headers
    )


async def upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    log.warning("upstream error on %s %s: %s", request.method, _route(request), exc)
    if isinstance(exc, UpstreamRejected):
        # An upstream refused what we sent: our bug or drift, not the client's fault.
        return problem(502, "upstream-rejected", "Upstream rejected the request", _upstream_detail(exc))
    return problem(exc.status, exc.type_slug, exc.title, _upstream_detail(exc), instance=request.url.path)


def _route(request: Request) -> str:
    """The matched route's template (``/v1/orders/{order_id}``) for the log, never the path
    itself: a path parameter is whatever the client sent, personal data included."""
    path = getattr(request.scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def _upstream_detail(exc: UpstreamError) -> str:
    # Names the dependency (useful to the caller) without its internals (addresses, bodies).
    return f"the {exc.upstream} service could not answer this request; try again later"


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if exc.detail and exc.detail != title else title
    if exc.status_code == 404:
        detail = f"no route for {request.method} {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, slug, title, detail, instance=request.url.path, headers=headers)


def internal_error() -> Response:
    """The answer to a failure nobody expected: a stable type, no detail of the failure."""
    return problem(500, "internal", "Internal error", "an unexpected error occurred; quote the request_id")


async def unhandled(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, _route(request), exc_info=exc)
    return internal_error()


EXCEPTION_HANDLERS = {
    ClientError: client_error,
    UpstreamError: upstream_error,
    HTTPException: http_exception,
    Exception: unhandled,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_MEDIA_TYPE", "TYPE_PREFIX", "internal_error", "problem"]
