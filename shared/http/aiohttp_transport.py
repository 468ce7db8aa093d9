"""aiohttp-backed transport: the default, for its throughput under concurrent fan-out."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from shared.errors import TransportConnectError, TransportProtocolError, TransportTimeout
from shared.http.transport import UpstreamResponse
from shared.types import QueryParams


class AiohttpTransport:
    """One pooled ``aiohttp.ClientSession`` for all upstreams, created on first use
    (inside the running event loop, as aiohttp requires)."""

    def __init__(self, *, max_connections: int = 512, keepalive_seconds: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_seconds,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                raise_for_status=False,
                # Upstream payloads are validated by pydantic; cookies are never relayed.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

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
        client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        try:
            async with self._client().request(
                method,
                url,
                params=params,
                headers=headers,
                data=body,
                timeout=client_timeout,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return UpstreamResponse(response.status, response.headers, payload)
        except TimeoutError as exc:  # covers aiohttp's ServerTimeoutError family
            raise TransportTimeout(f"no complete answer within {timeout:.3f}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportConnectError(str(exc)) from exc
        except aiohttp.ClientError as exc:  # disconnects, payload errors, bad HTTP
            raise TransportProtocolError(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
