"""Who is calling, as established by ``shared.auth.AuthMiddleware`` before routing."""

from __future__ import annotations

from starlette.requests import Request

from shared.errors import BadRequest, Unauthenticated
from shared.request_context import screen_record

USER_KEY = "bff.user_id"
#: The ``WWW-Authenticate`` challenge a 401 of this request carries (set by the auth
#: middleware where bearer tokens are the way in; absent in trusted_header mode).
CHALLENGE_KEY = "bff.auth_challenge"
#: The largest user id: order ids carry the user id in at most 9 digits, so the orders
#: service refuses larger ones. Endpoints document it as the ``maximum`` of ``X-User-Id``.
USER_ID_MAX = 999_999_999


def user_id_or_none(raw: str) -> int | None:
    """``raw`` as a user id (ASCII digits, 1 to ``USER_ID_MAX``), or ``None``."""
    # isdigit() alone admits "²" and other digits int() refuses; the length bounds the parse.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return None
    value = int(raw)
    return value if 1 <= value <= USER_ID_MAX else None


def parse_user_id(raw: str) -> int:
    user_id = user_id_or_none(raw)
    if user_id is None:
        raise BadRequest(
            f"header 'X-User-Id' must be a user id, an integer from 1 to {USER_ID_MAX}, got {raw[:40]!r}",
            field="X-User-Id",
        )
    return user_id


def _read_identity() -> None:
    record = screen_record()
    if record is not None:  # an answer that read who is calling is kept per caller
        record.per_user = True


def caller_id(request: Request) -> int:
    """The verified caller; 401 when the request carries no identity."""
    _read_identity()
    user = request.scope.get(USER_KEY)
    if user is None:
        raise Unauthenticated(
            "this endpoint needs the caller's identity: 'Authorization: Bearer <token>'", field="Authorization"
        )
    return int(user)


def optional_caller_id(request: Request) -> int | None:
    _read_identity()
    user = request.scope.get(USER_KEY)
    return None if user is None else int(user)


__all__ = [
    "CHALLENGE_KEY",
    "USER_ID_MAX",
    "USER_KEY",
    "caller_id",
    "optional_caller_id",
    "parse_user_id",
    "user_id_or_none",
]
