"""Rate limits: token buckets shared through Redis by two instances; per-process when
Redis is gone (fail open to a local limit, never to an error)."""

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from bff_mobile.settings import MobileSettings
from shared.ratelimit import LocalBuckets
from shared.settings import Rate
from tests.shared.resilience.clock import ManualClock
from tests.support import RedisTopology, Standins, mobile_config, serve_mobile

MACHINE_REDIS = "redis://127.0.0.1:6379/11"


def limited(upstreams: Standins, redis: str | dict[str, Any] | None, prefix: str) -> MobileSettings:
    """Limits on; shared through Redis at ``redis`` (a URL or a ``cache.redis`` section)."""
    config = mobile_config(upstreams)
    config["rate_limit"] = {"enabled": True, "per_client": {"per_second": 0.01, "burst": 5}}
    if redis:
        config["cache"] = {
            **({"redis_url": redis} if isinstance(redis, str) else {"redis": redis}),
            "prefix": prefix,
            "hmac_key": "shared",
            "encryption_keys": {"k1": base64.b64encode(b"1" * 32).decode()},
            "active_key_id": "k1",
        }
    return MobileSettings.model_validate(config)


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"rltest{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(MACHINE_REDIS)
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def statuses(urls: list[str], count: int, user: str = "7") -> list[httpx.Response]:
    answers = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(count):
            answers.append(await client.get(f"{urls[i % len(urls)]}/v1/products/42", headers={"X-User-Id": user}))
    return answers


async def test_the_limit_holds_across_two_instances_sharing_redis(
    upstreams: Standins, redis_topology: RedisTopology, prefix: str
) -> None:
    settings = limited(upstreams, redis_topology.cache, prefix)  # one node, Sentinel, Cluster
    with serve_mobile(settings) as a, serve_mobile(settings) as b:
        answers = await statuses([a, b], 10)
    redis_topology.forget(prefix)
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 5
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:problem-type:bff:rate-limited"


async def test_clients_have_buckets_of_their_own(upstreams: Standins, prefix: str) -> None:
    with serve_mobile(limited(upstreams, MACHINE_REDIS, prefix)) as url:
        first = await statuses([url], 6, user="7")
        other = await statuses([url], 1, user="8")
    assert first[-1].status_code == 429
    assert other[0].status_code == 200


async def test_with_redis_unreachable_each_process_limits_on_its_own(upstreams: Standins, prefix: str) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    settings = limited(upstreams, dead, prefix)
    with serve_mobile(settings) as a, serve_mobile(settings) as b:
        answers = await statuses([a, b], 14)
    codes = [r.status_code for r in answers]
    assert 500 not in codes and 502 not in codes and 503 not in codes
    assert codes.count(200) == 10  # 5 per process
    assert codes.count(429) == 4


def test_local_bucket_refills_at_its_rate() -> None:
    clock = ManualClock()
    buckets = LocalBuckets(clock)
    rate = Rate(per_second=2, burst=2)
    assert [buckets.take("k", rate) for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("k", rate) == pytest.approx(0.5)
    clock.advance(0.5)
    assert buckets.take("k", rate) == 0.0


def test_a_flood_of_new_clients_cannot_reset_the_bucket_of_a_client_still_sending() -> None:
    clock = ManualClock()
    buckets = LocalBuckets(clock, max_buckets=100)
    rate = Rate(per_second=0.001, burst=2)
    assert [buckets.take("steady", rate) for _ in range(2)] == [0.0, 0.0]
    for flood in range(1_000):  # ten times the table, the steady client between them
        buckets.take(f"flood-{flood}", rate)
        if flood % 50 == 0:
            assert buckets.take("steady", rate) > 0  # still empty: never reset
    assert len(buckets._buckets) == 100


def anonymous(upstreams: Standins, **server: object) -> MobileSettings:
    config = mobile_config(upstreams, server=server)
    config["rate_limit"] = {"enabled": True, "per_client": {"per_second": 0.01, "burst": 3}}
    return MobileSettings.model_validate(config)


async def anonymous_statuses(url: str, forwarded_for: list[str]) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as client:
        return [
            (await client.get(f"{url}/v1/products/42", headers={"X-Forwarded-For": value})).status_code
            for value in forwarded_for
        ]


async def test_a_direct_client_cannot_pick_its_bucket_with_x_forwarded_for(upstreams: Standins) -> None:
    # No trusted proxies (the default): the loopback peer is the client, whatever it claims.
    with serve_mobile(anonymous(upstreams)) as url:
        codes = await anonymous_statuses(url, [f"198.51.100.{i}" for i in range(1, 6)])
    assert codes == [200, 200, 200, 429, 429]


async def test_a_client_outside_the_trusted_networks_cannot_pick_its_bucket(upstreams: Standins) -> None:
    with serve_mobile(anonymous(upstreams, trusted_proxies=["10.0.0.0/8"])) as url:
        codes = await anonymous_statuses(url, [f"198.51.100.{i}" for i in range(1, 6)])
    assert codes == [200, 200, 200, 429, 429]


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(upstreams: Standins) -> None:
    with serve_mobile(anonymous(upstreams, trusted_proxies=["127.0.0.0/8"])) as url:
        first = await anonymous_statuses(url, ["198.51.100.1"] * 4)
        other = await anonymous_statuses(url, ["6.6.6.6, 198.51.100.2"] * 3)
    assert first == [200, 200, 200, 429]
    assert other == [200, 200, 200]


async def test_malformed_forwarding_headers_share_the_proxys_bucket_and_never_fail(upstreams: Standins) -> None:
    garbage = ["", "not-an-ip", "198.51.100.1, garbage", "[::1", "1.2.3.4:99999", ",,,"]
    with serve_mobile(anonymous(upstreams, trusted_proxies=["127.0.0.0/8"])) as url:
        codes = await anonymous_statuses(url, garbage)
    assert codes == [200, 200, 200, 429, 429, 429]
