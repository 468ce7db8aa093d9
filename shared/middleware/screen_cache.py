"""The ASGI piece of the screen cache (``shared.cache.screens``): a kept screen is answered
here, after authentication and rate limits and before routing, with a 304 when the caller
holds it already and gzip when the caller asks; a miss goes on to the endpoint, which
finds the cache in the scope and offers it the answer it renders."""

from __future__ import annotations

from shared.cache.screens import SCOPE_KEY, ScreenCache
from shared.identity import USER_KEY
from shared.responses import etag_matches
from shared.types import ASGIApp, Receive, Scope, Send


class ScreenCacheMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        screens: ScreenCache | None = state.get("screens") if state else None
        if screens is None or not screens.enabled or scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        screen = screens.lookup(scope["path"], scope["query_string"], scope.get(USER_KEY))
        if screen is None:
            scope[SCOPE_KEY] = screens
            await self.app(scope, receive, send)
            return
        if_none_match = None
        accepts_gzip = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"accept-encoding":
                accepts_gzip = b"gzip" in value
        scope["route"] = screen.route  # the route template, for the metrics and the access log
        if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), screen.etag.decode("latin-1")):
            await send({"type": "http.response.start", "status": 304, "headers": list(screen.not_modified)})
            await send({"type": "http.response.body", "body": b""})
            return
        headers, body = screen.headers, screen.body
        if accepts_gzip:
            variant = screens.gzipped(screen)
            if variant is not None:
                headers, body = variant
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})


__all__ = ["ScreenCacheMiddleware"]
