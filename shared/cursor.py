"""Opaque pagination cursors.

Clients get a cursor they cannot read or forge into something meaningful: the
upstream's own position, wrapped with a version tag and base64url-encoded. A cursor
that does not decode is the client's error (400 naming ``cursor``), never a 500.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from shared.errors import BadRequest

_VERSION = 1


def encode_cursor(position: str) -> str:
    payload = orjson.dumps({"v": _VERSION, "p": position})
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, *, field: str = "cursor") -> str:
    """The upstream position inside ``cursor``; ``BadRequest`` if it is not one of ours."""
    try:
        if len(cursor) > 512:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict) or data.get("v") != _VERSION or not isinstance(data.get("p"), str):
            raise ValueError("unknown cursor format")
        position: str = data["p"]
        return position
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        raise BadRequest(
            f"query parameter {field!r} is not a cursor this API issued; pass back next_cursor unchanged",
            field=field,
        ) from None


__all__ = ["decode_cursor", "encode_cursor"]
