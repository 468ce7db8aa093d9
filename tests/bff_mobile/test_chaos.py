"""Chaos through bff_mobile: faults switched on real stand-ins over HTTP, and what the
client sees. Each test runs its own bff_mobile with breaker settings small enough to
trip within a test, and asserts behaviour (status, degraded sections, call counts)."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ADMIN, ServedUrl, Standins, mobile_settings, serve_mobile

USER = {"X-User-Id": "7"}
#: The request deadline (1.5 s) plus scheduling slack: an answer must never wait on a dead upstream.
BOUND = 1.5 + 0.3
FAST_BREAKERS = {
    "breaker": {"minimum_calls": 5, "failure_rate": 0.5, "open_duration": 0.5, "half_open_probes": 2},
    # Every request must reach the upstreams here; the cache has its own chaos tests.
    "cache": {"ttl": 0, "stale_ttl": 0},
}


def with_policy(upstreams: Standins, policy: dict[str, Any]) -> dict[str, Any]:
    config = upstreams.upstream_config()
    for name in config:
        config[name]["policy"] = policy
    return config


@pytest.fixture
def chaos_mobile(upstreams: Standins) -> Iterator[ServedUrl]:
    settings = mobile_settings(upstreams, upstreams=with_policy(upstreams, FAST_BREAKERS))
    with serve_mobile(settings) as url:
        yield url


async def home(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/v1/home", headers=USER)


async def all_breakers(url: ServedUrl) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url.admin, timeout=10) as admin:
        breakers: list[dict[str, Any]] = (await admin.get("/admin/breakers", headers=ADMIN)).json()
    return breakers


async def breaker_states(url: ServedUrl, upstream: str) -> dict[str, str]:
    breakers = await all_breakers(url)
    return {b["region"]: b["state"] for b in breakers if b["upstream"] == upstream}


async def test_optional_upstream_down_degrades_within_the_deadline(
    chaos_mobile: ServedUrl, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", down=True)
    async with httpx.AsyncClient(base_url=chaos_mobile, timeout=10) as client:
        started = time.monotonic()
        answer = await home(client)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json()["degraded"] == ["recommendations"]
    assert elapsed < BOUND


async def test_optional_upstream_slow_degrades_at_its_timeout(chaos_mobile: ServedUrl, upstreams: Standins) -> None:
    upstreams.fault("recommendations", "*", latency_ms=5000)
    async with httpx.AsyncClient(base_url=chaos_mobile, timeout=10) as client:
        started = time.monotonic()
        answer = await home(client)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json()["degraded"] == ["recommendations"]
    assert elapsed < BOUND


async def test_half_the_calls_failing_opens_the_breaker_and_answers_stay_within_the_deadline(
    chaos_mobile: ServedUrl, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", error_rate=0.5, error_status=503)
    async with httpx.AsyncClient(base_url=chaos_mobile, timeout=10) as client:
        statuses, slowest = [], 0.0
        for _ in range(40):
            started = time.monotonic()
            statuses.append((await home(client)).status_code)
            slowest = max(slowest, time.monotonic() - started)
        states = await breaker_states(chaos_mobile, "recommendations")
        transitions = [b["transitions"] for b in await all_breakers(chaos_mobile) if b["upstream"] == "recommendations"]
    assert set(statuses) == {200}
    assert slowest < BOUND
    assert sum(transitions) >= 1, states


async def test_region_a_down_is_answered_from_region_b_without_client_errors(
    chaos_mobile: ServedUrl, upstreams: Standins
) -> None:
    for name in upstreams.region_names:
        upstreams.fault(name, "eu-west-1", down=True)
    async with httpx.AsyncClient(base_url=chaos_mobile, timeout=10) as client:
        answers = [await home(client) for _ in range(20)]
        states = await breaker_states(chaos_mobile, "accounts")
    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["degraded"] == [] for a in answers)
    # Tripped: still open, or already half-open when the open duration ran out while a
    # loaded machine served the twenty screens (its probe would fail and reopen it).
    assert states["eu-west-1"] in {"open", "half-open"}
    assert upstreams.requests("accounts", "eu-central-1") == 20
    # Once the breaker is open, region A is no longer tried on every call.
    assert upstreams.requests("accounts", "eu-west-1") < 20


async def test_traffic_fails_back_to_region_a_when_it_recovers(chaos_mobile: ServedUrl, upstreams: Standins) -> None:
    upstreams.fault("accounts", "eu-west-1", down=True)
    async with httpx.AsyncClient(base_url=chaos_mobile, timeout=10) as client:
        for _ in range(10):
            assert (await home(client)).status_code == 200
        assert (await breaker_states(chaos_mobile, "accounts"))["eu-west-1"] == "open"
        upstreams.fault("accounts", "eu-west-1")  # region A is back
        await asyncio.sleep(0.6)  # the breaker's open duration
        before = upstreams.requests("accounts", "eu-west-1")
        for _ in range(5):
            assert (await home(client)).status_code == 200
        states = await breaker_states(chaos_mobile, "accounts")
    assert upstreams.requests("accounts", "eu-west-1") - before == 5
    assert states["eu-west-1"] == "closed"


async def test_a_hard_down_upstream_sees_at_most_1_2x_the_inbound_rate(upstreams: Standins) -> None:
    upstreams.fault("recommendations", "*", error_rate=1.0, error_status=503)
    # Default policies: 2 attempts, 20 % retry budget, breakers at 20 calls.
    with serve_mobile(mobile_settings(upstreams)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            inbound = 200
            for _ in range(inbound):
                answer = await home(client)
                assert answer.status_code == 200
                assert answer.json()["degraded"] == ["recommendations"]
    seen = sum(upstreams.requests("recommendations", region) for region in upstreams.region_names["recommendations"])
    assert seen <= 1.2 * inbound, seen
