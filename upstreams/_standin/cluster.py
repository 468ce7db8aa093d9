"""Serve the stand-ins of several upstreams, each in several regions, on loopback.

For tests and local tools that want real servers::

    from upstreams.catalog.standin import create_standins

    with StandinCluster({"catalog": create_standins(["eu-west-1", "eu-central-1"])}) as cluster:
        base_url = cluster.url("catalog", "eu-west-1")
        cluster.state("catalog", "eu-central-1").faults.set(Faults(down=True))
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

from starlette.applications import Starlette

from shared.cli.servers import ServerThread
from upstreams._standin.app import StandinState, standin_state

__all__ = ["StandinCluster"]


class StandinCluster:
    """Stand-in apps by upstream name, then region, served in one ``ServerThread``."""

    def __init__(self, standins: Mapping[str, Mapping[str, Starlette]]) -> None:
        self.apps = {upstream: dict(regions) for upstream, regions in standins.items()}
        self.servers = ServerThread(
            {
                self._key(upstream, region): app
                for upstream, regions in self.apps.items()
                for region, app in regions.items()
            }
        )

    @staticmethod
    def _key(upstream: str, region: str) -> str:
        return f"{upstream}@{region}"

    def start(self) -> None:
        """Start serving every stand-in; returns once all accept connections."""
        self.servers.start()

    def stop(self) -> None:
        """Stop every stand-in gracefully."""
        self.servers.stop()

    def url(self, upstream: str, region: str) -> str:
        """The base URL of ``upstream``'s stand-in in ``region``."""
        return self.servers.url(self._key(upstream, region))

    def state(self, upstream: str, region: str) -> StandinState:
        """Faults and counters of ``upstream``'s stand-in in ``region``, for direct use."""
        return standin_state(self.apps[upstream][region])

    def reset(self) -> None:
        """Clear every fault and zero every counter (data written by requests stays)."""
        for regions in self.apps.values():
            for app in regions.values():
                state = standin_state(app)
                state.faults.clear()
                state.stats.reset()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
