"""Who is calling. For now the caller names itself in ``X-User-Id``; the
authentication work replaces this with a verified bearer token, behind this function."""

from __future__ import annotations

from starlette.requests import Request

from shared.errors import BadRequest, Unauthenticated

USER_HEADER = "x-user-id"


def caller_id(request: Request) -> int:
    raw = request.headers.get(USER_HEADER)
    if raw is None:
        raise Unauthenticated("this endpoint needs the caller's identity in the X-User-Id header", field="X-User-Id")
    if not raw.isdigit() or len(raw) > 10 or int(raw) < 1:
        raise BadRequest(f"header 'X-User-Id' must be a positive integer, got {raw[:40]!r}", field="X-User-Id")
    return int(raw)


__all__ = ["USER_HEADER", "caller_id"]
