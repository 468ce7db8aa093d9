"""Fixtures for the stand-in tests.

Each ``test_standin_<name>.py`` serves its stand-ins with a module-scoped
``standin_cluster`` fixture (real servers on loopback). ``fresh`` hands the cluster to a
test with no faults and zeroed counters and resets it afterwards; ``client_for`` gives
keep-alive clients shared by the module's tests (making an httpx client costs ~40 ms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from upstreams._standin import StandinCluster


@pytest.fixture
def fresh(standin_cluster: StandinCluster) -> Iterator[StandinCluster]:
    """The module's stand-in cluster, healthy and with zeroed counters."""
    standin_cluster.reset()
    yield standin_cluster
    standin_cluster.reset()


@pytest.fixture(scope="module")
def client_for(standin_cluster: StandinCluster) -> Iterator[Callable[[str, str], httpx.Client]]:
    """``client_for(upstream, region)``: a client with that stand-in's base URL."""
    clients: dict[tuple[str, str], httpx.Client] = {}

    def client(upstream: str, region: str) -> httpx.Client:
        if (upstream, region) not in clients:
            base_url = standin_cluster.url(upstream, region)
            clients[upstream, region] = httpx.Client(base_url=base_url, timeout=5)
        return clients[upstream, region]

    yield client
    for opened in clients.values():
        opened.close()
