"""How fast a breaker reacts, at 10, 700 and 5,000 calls per second, on a manual clock.

Each case plays a long healthy history at a steady rate, then the region starts failing
or hanging, and asserts when the breaker opened (simulated time after the outage began)
and how many calls paid for the outage before it did. Calls overlap as they would in
production: each ends ``latency`` after it started, in the order of the simulated clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from shared import BreakerPolicy
from shared.resilience.breaker import Breaker, BreakerState, Outcome, Permit
from tests.shared.resilience.clock import ManualClock

RATES = [10, 700, 5000]
HISTORY = 12.0  # seconds of healthy traffic first: longer than the longest window
DEFAULTS = BreakerPolicy()
#: Every failed call after which the breaker must be open, whatever the rate.
MOST_FAILED_CALLS = int(DEFAULTS.failure_rate * DEFAULTS.window_calls)


@dataclass
class Traffic:
    """Calls at ``rate`` per second against one breaker, ending as scheduled."""

    breaker: Breaker
    clock: ManualClock
    rate: int
    ticks: int = 0
    pending: list[tuple[float, int, Permit, Outcome, float]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)
    admitted: int = 0
    #: Calls admitted while half-open.
    probes: int = 0
    turned_away: int = 0
    opened_at: float | None = None
    #: Calls admitted since ``mark()`` into the outage.
    paid: int = 0

    def run(self, seconds: float, outcomes: Outcome | Sequence[Outcome], latency: float, *, bad: bool = False) -> None:
        """``seconds`` of calls, ending ``latency`` after they start with ``outcomes`` in turn."""
        cycle = itertools.cycle([outcomes] if isinstance(outcomes, Outcome) else outcomes)
        start_tick = self.ticks
        for tick in range(start_tick, start_tick + round(seconds * self.rate)):
            now = 1000.0 + tick / self.rate
            self._end_until(now)
            self.clock.now = now
            probing = self.breaker.state is BreakerState.HALF_OPEN
            permit = self.breaker.try_acquire()
            self._note_open()
            if permit is None:
                self.turned_away += 1
                continue
            self.admitted += 1
            self.probes += probing
            self.paid += bad
            heapq.heappush(self.pending, (now + latency, next(self.order), permit, next(cycle), latency))
        self.ticks = start_tick + round(seconds * self.rate)
        self._end_until(1000.0 + self.ticks / self.rate)  # what ends before the next call would start

    def _end_until(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            ends, _, permit, outcome, latency = heapq.heappop(self.pending)
            self.clock.now = ends
            self.breaker.record(permit, outcome, latency)
            self._note_open()

    def _note_open(self) -> None:
        if self.opened_at is None and self.breaker.state is not BreakerState.CLOSED:
            self.opened_at = self.clock.now

    def mark(self) -> float:
        """The outage starts now: returns its simulated start time."""
        self.opened_at = None
        self.paid = 0
        return 1000.0 + self.ticks / self.rate


def healthy(rate: int, policy: BreakerPolicy = DEFAULTS) -> Traffic:
    clock = ManualClock()
    traffic = Traffic(Breaker("accounts@eu-west-1", policy, clock), clock, rate)
    traffic.run(HISTORY, Outcome.SUCCESS, latency=0.01)
    assert traffic.opened_at is None and traffic.turned_away == 0
    return traffic


@pytest.mark.parametrize("rate", RATES)
def test_a_region_that_starts_failing_trips_within_a_second_after_few_failures(rate: int) -> None:
    traffic = healthy(rate)
    outage = traffic.mark()
    traffic.run(2.0, Outcome.FAILURE, latency=0.01, bad=True)
    assert traffic.opened_at is not None
    assert traffic.opened_at - outage <= 1.0 + 0.01
    still_running = rate * 0.01  # admitted before it opened, ending (failed) after
    assert traffic.paid <= MOST_FAILED_CALLS + still_running + 1


@pytest.mark.parametrize("rate", RATES)
def test_a_region_that_starts_hanging_trips_within_a_second_of_its_first_timeouts(rate: int) -> None:
    # Hung calls end at the attempt timeout (0.6 s, below the default slow_call_duration)
    # as failures: evidence exists from 0.6 s on, and a second later the breaker is open.
    attempt_timeout = 0.6
    traffic = healthy(rate)
    outage = traffic.mark()
    traffic.run(3.0, Outcome.FAILURE, latency=attempt_timeout, bad=True)
    assert traffic.opened_at is not None
    assert traffic.opened_at - outage <= attempt_timeout + 1.0
    # Nothing can be known before the first call times out; after that, a bounded number.
    assert traffic.paid <= rate * attempt_timeout + MOST_FAILED_CALLS + 1


@pytest.mark.parametrize("rate", RATES)
def test_a_hanging_region_trips_on_slow_calls_while_they_still_run(rate: int) -> None:
    policy = BreakerPolicy(slow_call_duration=0.3, slow_call_rate=0.5)
    traffic = healthy(rate, policy)
    outage = traffic.mark()
    traffic.run(2.0, Outcome.FAILURE, latency=60.0, bad=True)  # none ends during the test
    assert traffic.opened_at is not None
    assert traffic.opened_at - outage <= policy.slow_call_duration + 1.0
    assert all(ends > traffic.clock.now for ends, *_ in traffic.pending)
    assert traffic.paid <= rate * policy.slow_call_duration + MOST_FAILED_CALLS + 1


@pytest.mark.parametrize("rate", RATES)
def test_a_steady_share_of_failures_below_the_rate_never_trips(rate: int) -> None:
    traffic = healthy(rate)
    four_in_ten = [Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS]
    traffic.run(10.0, four_in_ten + four_in_ten[::-1], latency=0.01)
    assert traffic.opened_at is None


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("outcome", [Outcome.SUCCESS, Outcome.IGNORED], ids=["4xx-answers", "cancelled"])
def test_4xx_answers_and_cancelled_calls_never_trip(rate: int, outcome: Outcome) -> None:
    # The pipeline records a 4xx answer as a success and a cancelled call as ignored.
    traffic = healthy(rate)
    traffic.run(5.0, outcome, latency=0.01)
    assert traffic.opened_at is None
    assert traffic.turned_away == 0


@pytest.mark.parametrize("rate", RATES)
def test_once_open_only_the_probes_are_admitted_and_recovery_closes_it(rate: int) -> None:
    traffic = healthy(rate)
    traffic.mark()
    traffic.run(1.0, Outcome.FAILURE, latency=0.01, bad=True)
    assert traffic.breaker.state is BreakerState.OPEN
    admitted = traffic.admitted
    traffic.run(DEFAULTS.open_duration - 1.0, Outcome.SUCCESS, latency=0.01)
    assert traffic.admitted == admitted  # still open: nothing reaches the region
    traffic.run(2.0, Outcome.SUCCESS, latency=0.5)  # recovered; each probe takes half a second
    assert traffic.breaker.state is BreakerState.CLOSED
    assert traffic.probes == DEFAULTS.half_open_probes
