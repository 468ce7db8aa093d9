"""The transport seam every upstream call goes through.

The transport is chosen by measurement, not taste: under concurrent fan-out aiohttp holds
up and httpx's connection pool does not (figures in bench/RESULTS.md), so aiohttp is the
one shipped transport. ``shared.http.httpx_transport`` stays behind the same protocol as
the unit tests' seam (``httpx.MockTransport``, ``httpx.ASGITransport``); config cannot
select it.
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
    """Build the transport named in ``http.transport`` (validation admits only aiohttp)."""
    from shared.http.aiohttp_transport import AiohttpTransport

    return AiohttpTransport(max_connections=settings.max_connections, keepalive_seconds=settings.keepalive_seconds)


__all__ = ["Transport", "UpstreamResponse", "create_transport"]
