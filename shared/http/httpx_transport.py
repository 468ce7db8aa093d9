"""httpx-backed transport: the seam unit tests plug into, not a shipped transport.

A test hands it an in-process httpx transport: ``httpx.MockTransport`` for scripted
answers, ``httpx.ASGITransport`` for an in-process stand-in::

    transport = HttpxTransport(transport=httpx.MockTransport(handler))

Configuration cannot select it (``http.transport: httpx`` is refused): over real sockets,
httpcore's connection pool (1.0.9), on every request it queues or releases, walks all its
connections and, for each idle one, counts them all again, so its cost grows with the
square of the pool. At 32 concurrent screens of 5 calls each, attempts ran past their
timeouts and the breakers opened; no pool setting brought it within 0.5x of aiohttp.
Figures in bench/RESULTS.md ("Transport: httpx removed").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from shared.errors import TransportConnectError, TransportProtocolError, TransportTimeout
from shared.http.transport import UpstreamResponse
from shared.types import QueryParams


class HttpxTransport:
    """Sends through ``transport`` and maps httpx's errors as the shipped transport does."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport) -> None:
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: QueryParams | None,
        headers: Mapping[str, str],
        body: bytes | None,
        connect_timeout: float,
        timeout: float,
    ) -> UpstreamResponse:
        # httpx's read timeout is per chunk; asyncio.timeout bounds the whole exchange.
        request_timeout = httpx.Timeout(timeout, connect=connect_timeout)
        try:
            async with asyncio.timeout(timeout):
                response = await self._client.request(
                    method, url, params=params, headers=headers, content=body, timeout=request_timeout
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransportTimeout(f"no complete answer within {timeout:.3f}s") from exc
        except httpx.ConnectError as exc:
            raise TransportConnectError(str(exc)) from exc
        except httpx.TransportError as exc:
            raise TransportProtocolError(f"{type(exc).__name__}: {exc}") from exc
        return UpstreamResponse(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
