"""Fast JSON rendering with ETags.

Bodies are serialized by pydantic's Rust core (models) or orjson (plain data). GET
answers carry a weak ETag over the body; a matching ``If-None-Match`` gets a 304 with
no body. Weak, because gzip may re-encode the same representation.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def render_json(content: Any) -> bytes:
    """Serialize a pydantic model or plain JSON-able data to bytes."""
    if isinstance(content, BaseModel):
        return content.__pydantic_serializer__.to_json(content)
    return orjson.dumps(content)


class JSONResponse(Response):
    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return render_json(content)


def etag_for(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def json_with_etag(request: Request, content: Any, status_code: int = 200) -> Response:
    """A JSON response with an ETag; 304 when the client already holds this version."""
    body = render_json(content)
    etag = etag_for(body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in if_none_match.split(","))


__all__ = ["JSONResponse", "etag_for", "etag_matches", "json_with_etag", "render_json"]
