"""OpenAPI descriptions of the request parameters both processes' endpoints share.

The caller's identity is no parameter: ``shared.openapi`` describes it as the security
scheme the process's ``auth.mode`` enforces (a bearer JWT, or ``X-User-Id``)."""

from shared.endpoints import Param

PAGE_LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
    "Page size",
    allow_empty=True,
)
PAGE_CURSOR = Param("cursor", "query", {"type": "string"}, "next_cursor from the previous page", allow_empty=True)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
    "Unique per order the user means to place; reuse it only to retry the same request",
    required=True,
)

__all__ = ["IDEMPOTENCY_KEY", "PAGE_CURSOR", "PAGE_LIMIT"]
