"""The transport seam every upstream call goes through.

The transport is chosen by measurement, not taste: on this hardware httpx's default
transport degrades badly under concurrent fan-out while aiohttp holds up (figures in
bench/RESULTS.md), so aiohttp is the default and httpx stays available, and is what unit
tests use with ``httpx.MockTransport`` or ``httpx.ASGITransport``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from shared.settings import HttpSettings
from shared.types import QueryParams


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    #: Case-insensitive mapping as the transport gives it.
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one HTTP request and returns the whole response.

    ``timeout`` bounds the entire exchange, body included, so a peer that drips bytes
    still ends on time. Failures raise ``shared.errors.TransportError`` subclasses.
    """

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
    ) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


def create_transport(settings: HttpSettings) -> Transport:
    """Build the transport named in ``http.transport``."""
    if settings.transport == "httpx":
        from shared.http.httpx_transport import HttpxTransport

        return HttpxTransport(max_connections=settings.max_connections, keepalive_seconds=settings.keepalive_seconds)
    from shared.http.aiohttp_transport import AiohttpTransport

    return AiohttpTransport(max_connections=settings.max_connections, keepalive_seconds=settings.keepalive_seconds)


__all__ = ["Transport", "UpstreamResponse", "create_transport"]
