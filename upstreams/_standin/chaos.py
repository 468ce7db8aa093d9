"""The pure ASGI middleware that makes a stand-in misbehave on purpose.

It wraps every request except the control endpoints (paths under ``/_``): counts it by
route template, then applies the faults in force (see ``Faults`` for the order). It also
stamps every response with ``X-Served-Region`` so tests can see which region answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from upstreams._standin.faults import Faults, FaultSwitch
from upstreams._standin.responses import error_response, json_response
from upstreams._standin.stats import RequestStats

__all__ = ["CONTROL_PREFIX", "FaultMiddleware"]

CONTROL_PREFIX = "/_"

# A hanging request re-checks its fault this often; polling (rather than an event) keeps
# the switch usable from any thread and any event loop.
HANG_POLL_S = 0.02
# Small enough that even a one-product answer drips in several pieces.
SLOW_BODY_CHUNK_BYTES = 32
# What a dropped response promises but never delivers.
_DROPPED_LENGTH = 4096
_DROPPED_PREFIX = b'{"items": ['
_GARBAGE_BODY = b"<html><body>502 Bad Gateway (misrouted by a proxy)</body></html>"


class FaultMiddleware:
    """Apply a stand-in region's faults and count its requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        region: str,
        switch: FaultSwitch,
        stats: RequestStats,
        routes: Sequence[Route],
    ) -> None:
        self.app = app
        self.switch = switch
        self.stats = stats
        self.routes = list(routes)
        self._region_header = (b"x-served-region", region.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._stamping_region(send)
        if scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return

        self.stats.record(self._route_key(scope))
        faults = self.switch.current
        if faults.hang and not faults.down:
            replay = await self._wait_out_hang(receive)
            if replay is None:
                return  # the client went away; nobody is left to answer
            receive = replay
            faults = self.switch.current
        if faults.down:
            await _drop(send)
            return

        delay_ms = faults.latency_ms
        if faults.jitter_ms:
            delay_ms += self.switch.rng.uniform(0, faults.jitter_ms)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if faults.slow_body_ms:
            send = _dripping(send, faults.slow_body_ms / 1000)

        if faults.drop:
            await _drop(send)
        elif faults.error_rate and self.switch.rng.random() < faults.error_rate:
            await _injected_error(faults)(scope, receive, send)
        elif faults.garbage:
            # Claims JSON, so the client must actually fail to parse it.
            garbage = Response(_GARBAGE_BODY, 200, media_type="application/json")
            await garbage(scope, receive, send)
        elif faults.wrong_shape:
            await json_response({"unexpected": True})(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _route_key(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return f"{scope['method']} {route.path_format}"
        # One bucket for every unknown path, so scanners cannot grow the counters.
        return f"{scope['method']} (unmatched)"

    def _stamping_region(self, send: Send) -> Send:
        region_header = self._region_header

        async def send_with_region(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), region_header]
                message = {**message, "headers": headers}
            await send(message)

        return send_with_region

    async def _wait_out_hang(self, receive: Receive) -> Receive | None:
        """Wait while ``hang`` is on; ``None`` if the client disconnected meanwhile.

        Returns a ``receive`` that replays the request body read while watching for the
        disconnect, so the request can still be served if the hang is cleared.
        """
        buffered: list[Message] = []

        async def until_disconnect() -> None:
            try:
                while (message := await receive())["type"] != "http.disconnect":
                    buffered.append(message)
            except Exception:  # a broken connection is a client that went away
                return

        watcher = asyncio.create_task(until_disconnect())
        try:
            while self.switch.current.hang and not watcher.done():
                await asyncio.wait({watcher}, timeout=HANG_POLL_S)
        finally:
            watcher.cancel()
        if watcher.done() and not watcher.cancelled():
            return None

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        return replay


def _injected_error(faults: Faults) -> ASGIApp:
    headers: dict[str, str] = {}
    if faults.retry_after_s is not None:
        headers["Retry-After"] = str(faults.retry_after_s)
    detail = f"fault injected: error_rate={faults.error_rate} answered {faults.error_status}"
    return error_response(faults.error_status, "injected_fault", detail, headers)


async def _drop(send: Send) -> None:
    # Promise a body, send a little of it and return: uvicorn then closes the connection,
    # and the client sees the server hang up mid-response.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(_DROPPED_LENGTH).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _DROPPED_PREFIX, "more_body": True})


def _dripping(send: Send, delay_s: float) -> Send:
    async def send_slowly(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        chunks = [
            body[start : start + SLOW_BODY_CHUNK_BYTES] for start in range(0, len(body), SLOW_BODY_CHUNK_BYTES)
        ] or [b""]
        for index, chunk in enumerate(chunks):
            await asyncio.sleep(delay_s)
            is_last = index == len(chunks) - 1
            await send(
                {
                    "type": "http.response.body",
                    "body": chunk,
                    "more_body": more_body or not is_last,
                }
            )

    return send_slowly
