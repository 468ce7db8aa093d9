"""Request ids: accepted from the caller when well-formed, generated otherwise, echoed
in the response. The same layer opens the request's context (``shared.request_context``):
its id and the report the layers below write about the answer."""

from __future__ import annotations

import os
import re

from shared.request_context import close_request, open_request
from shared.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        encoded = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _VALID.match(value):
                    encoded = value
                break
        if encoded is None:
            encoded = os.urandom(16).hex().encode("ascii")  # as random as a uuid4, without its objects
        _, token = open_request(encoded.decode("ascii"))
        id_header = (HEADER, encoded)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            close_request(token)
