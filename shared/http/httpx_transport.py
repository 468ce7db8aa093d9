"""httpx-backed transport: selectable in config, and the seam unit tests plug into
(``httpx.MockTransport`` for scripted answers, ``httpx.ASGITransport`` for an in-process
stand-in)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from shared.errors import TransportConnectError, TransportProtocolError, TransportTimeout
from shared.http.transport import UpstreamResponse
from shared.types import QueryParams


class HttpxTransport:
    def __init__(
        self,
        *,
        max_connections: int = 512,
        keepalive_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, keepalive_expiry=keepalive_seconds),
            follow_redirects=False,
            trust_env=False,
        )

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
