"""Who is calling, as established by ``shared.auth.AuthMiddleware`` before routing."""

from __future__ import annotations

from starlette.requests import Request

from shared.errors import BadRequest, Unauthenticated

USER_KEY = "bff.user_id"


def parse_user_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or int(raw) < 1:
        raise BadRequest(f"header 'X-User-Id' must be a positive integer, got {raw[:40]!r}", field="X-User-Id")
    return int(raw)


def caller_id(request: Request) -> int:
    """The verified caller; 401 when the request carries no identity."""
    user = request.scope.get(USER_KEY)
    if user is None:
        raise Unauthenticated(
            "this endpoint needs the caller's identity: 'Authorization: Bearer <token>'", field="Authorization"
        )
    return int(user)


def optional_caller_id(request: Request) -> int | None:
    user = request.scope.get(USER_KEY)
    return None if user is None else int(user)


__all__ = ["USER_KEY", "caller_id", "optional_caller_id", "parse_user_id"]
