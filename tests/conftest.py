import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    TOPOLOGIES,
    RedisTopology,
    ServedUrl,
    Standins,
    mobile_settings,
    reset_bff,
    running_topology,
    serve_mobile,
    serve_web,
    web_settings,
)


@pytest.fixture(scope="session")
def standins() -> Iterator[Standins]:
    cluster = Standins()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def upstreams(standins: Standins) -> Iterator[Standins]:
    """The stand-ins, healthy with zeroed counters; faults a test switches on are reset after it."""
    standins.reset()
    yield standins
    standins.reset()


@pytest.fixture(scope="session")
def mobile_url(standins: Standins) -> Iterator[ServedUrl]:
    with serve_mobile(mobile_settings(standins)) as url:
        yield url


@pytest.fixture
async def mobile(mobile_url: ServedUrl, upstreams: Standins) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared bff_mobile, reset after each test (breakers, cache), since
    faults one test switches on must not leave another test's upstream cut off or cached."""
    async with httpx.AsyncClient(base_url=mobile_url, timeout=10) as client:
        yield client
    reset_bff(upstreams.http, mobile_url.admin)


@pytest.fixture
async def mobile_admin(mobile_url: ServedUrl, mobile: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared bff_mobile's admin listener (reset after the test by ``mobile``)."""
    async with httpx.AsyncClient(base_url=mobile_url.admin, timeout=10) as client:
        yield client


PERSISTED = Path(__file__).parents[1] / "bff_web" / "persisted_queries.json"


@pytest.fixture(scope="session")
def web_url(standins: Standins) -> Iterator[ServedUrl]:
    graphql = {"persisted_queries_file": str(PERSISTED)}
    with serve_web(web_settings(standins, graphql=graphql)) as url:
        yield url


@pytest.fixture
async def web(web_url: ServedUrl, upstreams: Standins) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the shared bff_web, reset after each test like ``mobile``."""
    async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:
        yield client
    reset_bff(upstreams.http, web_url.admin)


@pytest.fixture(scope="session", params=TOPOLOGIES)
def redis_topology(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTopology]:
    """Redis as one node, a Sentinel group (primary, replica, 3 Sentinels) or a 6-node
    Cluster, started once per session from the machine's redis-server on loopback ports
    of their own; a test using it runs once on each. Tests share it: each uses a key
    prefix of its own and deletes its keys after (``RedisTopology.forget``)."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on this machine")
    name: str = request.param
    with running_topology(name, tmp_path_factory.mktemp(f"redis-{name}")) as topology:
        yield topology
