"""OpenAPI descriptions of the request parameters both processes' endpoints share."""

from shared.endpoints import Param
from shared.identity import USER_ID_MAX

USER_ID = Param(
    "X-User-Id",
    "header",
    {"type": "integer", "minimum": 1, "maximum": USER_ID_MAX},
    "The calling user",
    required=True,
)
PAGE_LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
    "Page size",
    allow_empty=True,
)
PAGE_CURSOR = Param("cursor", "query", {"type": "string"}, "next_cursor from the previous page", allow_empty=True)

__all__ = ["PAGE_CURSOR", "PAGE_LIMIT", "USER_ID"]
