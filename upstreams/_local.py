"""Where the local stand-ins listen, so a process with no upstream config just works."""

from __future__ import annotations

#: The two regions every stand-in is served in locally, in default failover order.
LOCAL_REGION_NAMES = ("eu-west-1", "eu-central-1")


def local_regions(first_port: int) -> dict[str, str]:
    """Region name → loopback base URL, on ``first_port`` and ``first_port + 1``."""
    return {name: f"http://127.0.0.1:{first_port + i}" for i, name in enumerate(LOCAL_REGION_NAMES)}
