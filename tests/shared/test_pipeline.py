"""The policy pipeline end to end on a scripted transport, a manual clock and recorded
sleeps: retries, the retry budget, breakers with failover and fail-back, the bulkhead
and hedging. No test waits on a real backoff."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel

from shared import (
    BreakerOpen,
    BreakerPolicy,
    BulkheadFull,
    BulkheadPolicy,
    CallPolicy,
    Deadline,
    HedgePolicy,
    Operation,
    Region,
    RetryPolicy,
    UpstreamClient,
    UpstreamConfig,
    UpstreamRejected,
    UpstreamResponse,
    UpstreamStatusError,
)
from shared.errors import TransportConnectError
from shared.resilience import BreakerState
from shared.types import QueryParams
from tests.shared.resilience.clock import ManualClock


class Thing(BaseModel):
    id: int


GET = Operation(upstream="up", name="get", method="GET", path="/t", response=Thing, idempotent=True)
POST = Operation(upstream="up", name="post", method="POST", path="/t", response=Thing, idempotent=False)
OK = UpstreamResponse(200, {}, b'{"id": 1}')

Behaviour = Callable[[], Awaitable[UpstreamResponse]]


def answer(response: UpstreamResponse) -> Behaviour:
    async def behave() -> UpstreamResponse:
        return response

    return behave


def status(code: int, headers: Mapping[str, str] | None = None) -> Behaviour:
    return answer(UpstreamResponse(code, headers or {}, b'{"error": "x"}'))


def refused() -> Behaviour:
    async def behave() -> UpstreamResponse:
        raise TransportConnectError("refused")

    return behave


class ScriptedTransport:
    """Answers per region host from a script; the last entry repeats."""

    def __init__(self, **scripts: list[Behaviour]) -> None:
        self.scripts = scripts
        self.calls: list[str] = []
        self.sent: list[tuple[str, Mapping[str, str]]] = []  # region, headers of each attempt

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
        region = urlsplit(url).hostname or ""
        self.calls.append(region)
        self.sent.append((region, dict(headers)))
        script = self.scripts[region]
        behaviour = script.pop(0) if len(script) > 1 else script[0]
        return await behaviour()

    async def aclose(self) -> None:
        return None


class Sleeps:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.clock.advance(seconds)


BREAKER = BreakerPolicy(minimum_calls=4, failure_rate=0.5, open_duration=5, half_open_probes=2)


def make(
    transport: ScriptedTransport, clock: ManualClock, regions: tuple[str, ...] = ("a", "b"), **policy: object
) -> tuple[UpstreamClient, Sleeps]:
    sleeps = Sleeps(clock)
    defaults: dict[str, object] = {"breaker": BREAKER, "retry": RetryPolicy(attempts=3, base_delay=0.1)}
    config = UpstreamConfig.uniform(
        [Region(name, f"http://{name}") for name in regions], CallPolicy.model_validate(defaults | policy)
    )
    return UpstreamClient("up", config, transport, clock=clock, sleep=sleeps), sleeps


async def get(client: UpstreamClient, clock: ManualClock, **kwargs: object) -> Thing:
    return await client.call(GET, deadline=Deadline.after(10, clock), **kwargs)  # type: ignore[arg-type]


async def test_idempotent_call_is_retried_after_backoff_until_it_succeeds() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503), status(503), answer(OK)])
    client, sleeps = make(transport, clock, regions=("a",))
    assert await get(client, clock) == Thing(id=1)
    assert transport.calls == ["a", "a", "a"]
    assert len(sleeps.taken) == 2
    assert 0 <= sleeps.taken[0] <= 0.1
    assert 0 <= sleeps.taken[1] <= 0.2


async def test_attempts_are_bounded_by_the_policy() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503)])
    client, _ = make(transport, clock, regions=("a",))
    with pytest.raises(UpstreamStatusError):
        await get(client, clock)
    assert len(transport.calls) == 3


@pytest.mark.parametrize("code", [400, 401, 404, 409, 422])
async def test_4xx_answers_are_never_retried(code: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(code)], b=[answer(OK)])
    client, _ = make(transport, clock)
    with pytest.raises(UpstreamRejected):
        await get(client, clock)
    assert transport.calls == ["a"]


@pytest.mark.parametrize("code", [408, 429])
async def test_408_and_429_are_retried(code: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(code), answer(OK)])
    client, _ = make(transport, clock, regions=("a",))
    assert await get(client, clock) == Thing(id=1)


async def test_retry_after_is_honoured() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(429, {"Retry-After": "2"}), answer(OK)])
    client, sleeps = make(transport, clock, regions=("a",))
    await get(client, clock)
    assert sleeps.taken == [2.0]


async def test_no_retry_when_retry_after_outlasts_the_deadline() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503, {"Retry-After": "30"}), answer(OK)])
    client, sleeps = make(transport, clock, regions=("a",))
    with pytest.raises(UpstreamStatusError):
        await get(client, clock)
    assert sleeps.taken == []


async def test_a_write_without_idempotency_key_is_sent_once() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503)], b=[answer(OK)])
    client, _ = make(transport, clock)
    with pytest.raises(UpstreamStatusError):
        await client.call(POST, json={}, deadline=Deadline.after(10, clock))
    assert transport.calls == ["a"]


async def test_a_write_with_idempotency_key_is_retried() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503), answer(OK)])
    client, _ = make(transport, clock, regions=("a",))
    await client.call(POST, json={}, headers={"Idempotency-Key": "k"}, deadline=Deadline.after(10, clock))
    assert transport.calls == ["a", "a"]


async def test_a_region_whose_breaker_is_open_is_skipped() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[refused()], b=[answer(OK)])
    client, _ = make(transport, clock)
    for _ in range(4):
        await get(client, clock)
    assert client.breakers["a"].state is BreakerState.OPEN
    transport.calls.clear()
    await get(client, clock)
    assert transport.calls == ["b"]
    assert client.served[("get", "b")] == 5


async def test_never_retries_into_an_open_breaker() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503)])
    client, _ = make(transport, clock, regions=("a",), retry=RetryPolicy(attempts=5, budget_min_retries=100))
    with pytest.raises(UpstreamStatusError):
        await get(client, clock)  # 4 attempts open the breaker; the 5th is not made
    assert len(transport.calls) == 4
    transport.calls.clear()
    with pytest.raises(BreakerOpen):
        await get(client, clock)
    assert transport.calls == []


async def test_traffic_fails_back_when_the_first_region_recovers() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[refused()] * 4 + [answer(OK)], b=[answer(OK)])
    client, _ = make(transport, clock)
    for _ in range(4):
        await get(client, clock)
    assert client.breakers["a"].state is BreakerState.OPEN
    clock.advance(5)
    transport.calls.clear()
    for _ in range(3):
        await get(client, clock)
    assert transport.calls == ["a", "a", "a"]
    assert client.breakers["a"].state is BreakerState.CLOSED


async def test_retry_budget_caps_extra_load_on_a_failing_upstream() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503)])
    no_breaker = BreakerPolicy(minimum_calls=10_000, window_calls=10_000)
    retry = RetryPolicy(attempts=3, base_delay=0, budget_ratio=0.2, budget_min_retries=3)
    client, _ = make(transport, clock, regions=("a",), breaker=no_breaker, retry=retry)
    for _ in range(100):
        with pytest.raises(UpstreamStatusError):
            await get(client, clock)
    assert len(transport.calls) <= 100 + 20 + 3
    assert client.budget.exhausted > 0


async def test_failover_in_the_first_round_is_free_but_retry_rounds_are_not() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(503)], b=[status(503)])
    no_breaker = BreakerPolicy(minimum_calls=10_000, window_calls=10_000)
    retry = RetryPolicy(attempts=2, base_delay=0, budget_ratio=0.2, budget_min_retries=0)
    client, _ = make(transport, clock, breaker=no_breaker, retry=retry)
    for _ in range(50):
        with pytest.raises(UpstreamStatusError):
            await get(client, clock)
    # 50 first rounds reach both regions; retry rounds get 20 % of 50 calls.
    assert len(transport.calls) == 100 + 10


async def test_a_full_bulkhead_rejects_fast() -> None:
    clock = ManualClock()
    gate = asyncio.Event()

    async def blocked() -> UpstreamResponse:
        await gate.wait()
        return OK

    transport = ScriptedTransport(a=[blocked])
    client, _ = make(transport, clock, regions=("a",), bulkhead=BulkheadPolicy(max_concurrent=2, max_wait=0.01))
    running = [asyncio.ensure_future(get(client, clock)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull):
        await get(client, clock)
    gate.set()
    assert [t.id for t in await asyncio.gather(*running)] == [1, 1]


async def test_hedge_goes_to_the_next_region_after_the_observed_p95_and_first_answer_wins() -> None:
    slow_started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> UpstreamResponse:
        slow_started.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return OK

    clock = ManualClock()
    transport = ScriptedTransport(a=[answer(OK)] * 20 + [slow], b=[answer(UpstreamResponse(200, {}, b'{"id": 2}'))])
    hedge = HedgePolicy(enabled=True, min_delay=0.01, min_samples=20)
    client, _ = make(transport, clock, hedge=hedge)
    for _ in range(20):
        await get(client, clock)
    thing = await get(client, clock)
    assert thing == Thing(id=2)
    assert transport.calls[-2:] == ["a", "b"]
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_no_hedge_before_enough_latency_samples() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[answer(OK)], b=[answer(OK)])
    client, _ = make(transport, clock, hedge=HedgePolicy(enabled=True, min_samples=20))
    await get(client, clock)
    assert transport.calls == ["a"]


async def test_reconfigure_swaps_policies_and_keeps_breaker_state() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[refused()], b=[answer(OK)])
    client, _ = make(transport, clock)
    for _ in range(4):
        await get(client, clock)
    regions = client.regions
    client.reconfigure(
        UpstreamConfig.uniform(regions, CallPolicy(breaker=BREAKER.model_copy(update={"open_duration": 60})))
    )
    assert client.breakers["a"].state is BreakerState.OPEN
    clock.advance(30)
    assert client.breakers["a"].state is BreakerState.OPEN


# Breakers at request rates: a healthy history, then an outage --------------------------------

RATES = [10, 700, 5000]
DEFAULT_BREAKER = BreakerPolicy()


def hang() -> Behaviour:
    async def behave() -> UpstreamResponse:
        await asyncio.Event().wait()  # until cancelled: the transport's timeout is not simulated here
        raise AssertionError("unreachable")

    return behave


async def at_rate(client: UpstreamClient, clock: ManualClock, rate: int, calls: int) -> None:
    """``calls`` calls one after another, ``1 / rate`` apart on the clock."""
    for _ in range(calls):
        clock.advance(1 / rate)
        await get(client, clock)


@pytest.mark.parametrize("rate", RATES)
async def test_a_region_that_starts_failing_is_cut_off_within_a_second_at_any_rate(rate: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[answer(OK)], b=[answer(OK)])
    client, _ = make(transport, clock, breaker=DEFAULT_BREAKER)
    await at_rate(client, clock, rate, min(12 * rate, 20_000))  # thousands of successes in the window
    transport.scripts["a"] = [status(503)]
    transport.calls.clear()
    calls_since_outage = 0
    while client.breakers["a"].state is BreakerState.CLOSED:
        await at_rate(client, clock, rate, 1)  # each call fails over to b and is answered
        calls_since_outage += 1
    assert calls_since_outage / rate <= 1.0  # seconds on the clock
    assert transport.calls.count("a") <= DEFAULT_BREAKER.failure_rate * DEFAULT_BREAKER.window_calls
    transport.calls.clear()
    await at_rate(client, clock, rate, 10)
    assert transport.calls == ["b"] * 10


@pytest.mark.parametrize("rate", RATES)
async def test_a_region_that_hangs_is_cut_off_while_its_calls_still_hang(rate: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[answer(OK)], b=[answer(OK)])
    breaker = BreakerPolicy(slow_call_duration=0.3, slow_call_rate=0.5)
    client, _ = make(transport, clock, breaker=breaker, bulkhead=BulkheadPolicy(max_concurrent=100_000))
    await at_rate(client, clock, rate, min(12 * rate, 20_000))
    transport.scripts["a"] = [hang()]
    hung: list[asyncio.Future[Thing]] = []
    while client.breakers["a"].state is BreakerState.CLOSED:
        clock.advance(1 / rate)
        hung.append(asyncio.ensure_future(get(client, clock)))
        await asyncio.sleep(0)  # let it reach the transport
    assert len(hung) / rate <= breaker.slow_call_duration + 1.0  # seconds on the clock
    tripping_call = hung.pop()  # turned away from a: answered by b
    assert (await tripping_call) == Thing(id=1)
    assert not any(call.done() for call in hung)  # every call to a still hangs
    transport.calls.clear()
    await at_rate(client, clock, rate, 10)
    assert transport.calls == ["b"] * 10
    for call in hung:
        call.cancel()
    await asyncio.gather(*hung, return_exceptions=True)


@pytest.mark.parametrize("rate", RATES)
async def test_4xx_answers_at_any_rate_never_open_the_breaker(rate: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[status(404)], b=[answer(OK)])
    client, _ = make(transport, clock, breaker=DEFAULT_BREAKER)
    for _ in range(2 * rate):
        clock.advance(1 / rate)
        with pytest.raises(UpstreamRejected):
            await get(client, clock)
    assert client.breakers["a"].state is BreakerState.CLOSED
    assert transport.calls == ["a"] * (2 * rate)


@pytest.mark.parametrize("rate", RATES)
async def test_calls_cancelled_before_they_turn_slow_never_open_the_breaker(rate: int) -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[hang()], b=[answer(OK)])
    client, _ = make(transport, clock, breaker=DEFAULT_BREAKER, bulkhead=BulkheadPolicy(max_concurrent=100_000))
    running: list[tuple[float, asyncio.Future[Thing]]] = []
    for _ in range(2 * rate):
        clock.advance(1 / rate)
        running.append((clock(), asyncio.ensure_future(get(client, clock))))
        while running and running[0][0] <= clock() - 0.1:  # the caller gives up after 0.1 s
            running.pop(0)[1].cancel()
        await asyncio.sleep(0)
    for _, call in running:
        call.cancel()
    await asyncio.gather(*(call for _, call in running), return_exceptions=True)
    assert client.breakers["a"].state is BreakerState.CLOSED
    assert client.breakers["a"].snapshot()["calls_in_window"] == 0
    assert set(transport.calls) == {"a"}


def taking(clock: ManualClock, seconds: float) -> Behaviour:
    """An answer that takes ``seconds`` on the manual clock (as the latency tracker sees it)."""

    async def behave() -> UpstreamResponse:
        clock.advance(seconds)
        return OK

    return behave


class HedgeTimer:
    """The client's sleep: records each delay; ``fire`` decides whether it elapses at once
    (the first attempt is slower than the delay) or never (the first attempt answers first)."""

    def __init__(self, fire: bool) -> None:
        self.fire = fire
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if not self.fire:
            await asyncio.Event().wait()


#: 20 answers of 10, 20, ... 200 ms: their p95 (nearest rank, the 19th) is 190 ms.
HISTORY = [0.01 * i for i in range(1, 21)]


def hedged_client(
    clock: ManualClock, first_answer: Behaviour, timer: HedgeTimer, history: list[float] = HISTORY
) -> tuple[UpstreamClient, ScriptedTransport]:
    earlier = [taking(clock, seconds) for seconds in history]
    transport = ScriptedTransport(a=[*earlier, first_answer], b=[answer(UpstreamResponse(200, {}, b'{"id": 2}'))])
    policy = CallPolicy(breaker=BREAKER, retry=RetryPolicy(attempts=1), hedge=HedgePolicy(enabled=True, min_delay=0.02))
    config = UpstreamConfig.uniform([Region("a", "http://a"), Region("b", "http://b")], policy)
    return UpstreamClient("up", config, transport, clock=clock, sleep=timer), transport


async def test_the_hedge_is_sent_once_the_first_attempt_outlasts_the_observed_p95() -> None:
    clock = ManualClock()
    hanging = asyncio.Event()

    async def hangs() -> UpstreamResponse:
        await hanging.wait()
        return OK

    timer = HedgeTimer(fire=True)
    client, transport = hedged_client(clock, hangs, timer)
    for _ in range(20):
        await get(client, clock)
    assert await get(client, clock) == Thing(id=2)
    assert timer.delays == [pytest.approx(0.19)]
    assert transport.calls[-2:] == ["a", "b"]


async def test_no_hedge_when_the_first_attempt_answers_within_the_observed_p95() -> None:
    clock = ManualClock()
    timer = HedgeTimer(fire=False)
    client, transport = hedged_client(clock, taking(clock, 0.05), timer)
    for _ in range(20):
        await get(client, clock)
    assert await get(client, clock) == Thing(id=1)
    assert timer.delays == [pytest.approx(0.19)]
    assert "b" not in transport.calls


async def test_the_hedge_delay_is_never_below_its_floor() -> None:
    clock = ManualClock()
    timer = HedgeTimer(fire=False)
    client, _ = hedged_client(clock, taking(clock, 0), timer, history=[0.0] * 20)
    for _ in range(21):
        await get(client, clock)
    assert timer.delays == [0.02]


def refused_after(clock: ManualClock, seconds: float) -> Behaviour:
    async def behave() -> UpstreamResponse:
        clock.advance(seconds)
        raise TransportConnectError("refused")

    return behave


async def test_each_attempt_tells_the_upstream_the_milliseconds_left_of_the_deadline() -> None:
    clock = ManualClock()
    transport = ScriptedTransport(a=[refused_after(clock, 0.4)], b=[answer(OK)])  # a refuses after 400 ms
    config = UpstreamConfig.uniform([Region("a", "http://a"), Region("b", "http://b")], CallPolicy(breaker=BREAKER))
    client = UpstreamClient("up", config, transport, clock=clock)
    await client.call(GET, deadline=Deadline.after(2.5, clock))
    assert [(region, headers["X-Request-Deadline-Ms"]) for region, headers in transport.sent] == [
        ("a", "2500"),
        ("b", "2100"),
    ]
