"""Request counters of one stand-in region, by route template (what ``GET /_stats`` shows)."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["RequestStats"]


class RequestStats:
    """Counts the requests a stand-in region received, including those faults failed.

    Keys are ``"<METHOD> <route template>"``, e.g. ``"GET /products/{product_id}"``, so
    the counts stay few however many ids are asked for.
    """

    def __init__(self, region: str) -> None:
        self.region = region
        self.requests = 0
        self.by_route: Counter[str] = Counter()

    def record(self, route_key: str) -> None:
        """Count one request to ``route_key``."""
        self.requests += 1
        self.by_route[route_key] += 1

    def reset(self) -> None:
        """Zero every counter."""
        self.requests = 0
        self.by_route = Counter()

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data."""
        return {
            "region": self.region,
            "requests": self.requests,
            "by_route": dict(self.by_route),
        }
