"""GraphQL errors as clients see them: a message and a stable ``extensions.code``.

Our own errors (bad input, upstream failures) keep a safe message and get a code from
their class; anything else is a bug, masked as ``INTERNAL_SERVER_ERROR`` and logged with
its traceback and the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from shared.errors import (
    BadRequest,
    BreakerOpen,
    BulkheadFull,
    ClientError,
    Forbidden,
    NotFound,
    Unauthenticated,
    UnprocessableContent,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.request_context import current_request_id

log = logging.getLogger("bff.graphql")

#: Error class → code, most specific first.
CODES: list[tuple[type[Exception], str]] = [
    (NotFound, "NOT_FOUND"),
    (Unauthenticated, "UNAUTHENTICATED"),
    (Forbidden, "FORBIDDEN"),
    (BadRequest, "BAD_USER_INPUT"),
    (UnprocessableContent, "BAD_USER_INPUT"),
    (ClientError, "BAD_USER_INPUT"),
    (BreakerOpen, "UPSTREAM_CIRCUIT_OPEN"),
    (BulkheadFull, "UPSTREAM_OVERLOADED"),
    (UpstreamTimeout, "UPSTREAM_TIMEOUT"),
    (UpstreamUnavailable, "UPSTREAM_UNAVAILABLE"),
    (UpstreamBadResponse, "UPSTREAM_BAD_RESPONSE"),
    (UpstreamStatusError, "UPSTREAM_FAILED"),
    (UpstreamRejected, "UPSTREAM_REJECTED"),
    (UpstreamError, "UPSTREAM_FAILED"),
]


def code_for(error: BaseException) -> str | None:
    for cls, code in CODES:
        if isinstance(error, cls):
            return code
    return None


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The JSON of one error, safe to send."""
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path is not None:
        body["path"] = list(error.path)
    original = error.original_error
    extensions: dict[str, Any] = dict(error.extensions or {})
    if original is None:
        extensions.setdefault(
            "code", "GRAPHQL_PARSE_FAILED" if isinstance(error, GraphQLSyntaxError) else "GRAPHQL_VALIDATION_FAILED"
        )
    elif isinstance(original, UpstreamError):
        body["message"] = f"the {original.upstream} service could not answer; this field is unavailable"
        extensions = {"code": code_for(original), "upstream": original.upstream}
    elif isinstance(original, ClientError):
        body["message"] = original.detail
        extensions = {"code": code_for(original)}
        if original.field:
            extensions["field"] = original.field
    elif isinstance(original, GraphQLError):
        inner = format_error(original)
        if original.original_error is None:
            # graphql-core's own message around it names what was wrong ("Variable '$n' got
            # invalid value …"); an inner error from a resolver keeps its sanitized text.
            inner["message"] = error.message
        return inner | {k: v for k, v in body.items() if k == "path"}
    else:
        log.error("unexpected error in a resolver (request %s)", current_request_id(), exc_info=original)
        body["message"] = "internal error; quote the request id"
        extensions = {"code": "INTERNAL_SERVER_ERROR", "request_id": current_request_id()}
    body["extensions"] = extensions
    return body


def request_error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    """An error about the request itself (before any execution)."""
    return {"message": message, "extensions": {"code": code, **extra}}


__all__ = ["CODES", "code_for", "format_error", "request_error"]
