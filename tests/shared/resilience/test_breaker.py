"""Breaker boundaries, proven on a manual clock: no test sleeps."""

import pytest

from shared import BreakerPolicy
from shared.resilience.breaker import Breaker, BreakerState, Outcome
from tests.shared.resilience.clock import ManualClock

POLICY = BreakerPolicy(
    window=10,
    minimum_calls=10,
    failure_rate=0.5,
    slow_call_duration=1.0,
    slow_call_rate=0.8,
    open_duration=5,
    half_open_probes=3,
)


def calls(breaker: Breaker, outcome: Outcome, n: int, duration: float = 0.01) -> None:
    for _ in range(n):
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.record(permit, outcome, duration)


def opened(clock: ManualClock) -> Breaker:
    breaker = Breaker("up@a", POLICY, clock)
    calls(breaker, Outcome.FAILURE, 10)
    assert breaker.state is BreakerState.OPEN
    return breaker


def test_does_not_open_before_minimum_calls_even_at_100_percent_failures() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.FAILURE, 9)
    assert breaker.state is BreakerState.CLOSED


def test_opens_on_the_call_that_reaches_the_failure_rate_and_not_one_before() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.SUCCESS, 6)
    calls(breaker, Outcome.FAILURE, 5)  # 5/11 = 45 %
    assert breaker.state is BreakerState.CLOSED
    calls(breaker, Outcome.FAILURE, 1)  # 6/12 = 50 %
    assert breaker.state is BreakerState.OPEN


def test_opens_on_slow_call_rate_even_when_calls_succeed() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.SUCCESS, 2, duration=0.1)
    calls(breaker, Outcome.SUCCESS, 7, duration=1.0)  # 7/9 slow, below minimum calls
    assert breaker.state is BreakerState.CLOSED
    calls(breaker, Outcome.SUCCESS, 1, duration=1.0)  # 8/10 = 80 %
    assert breaker.state is BreakerState.OPEN


def test_ignored_outcomes_do_not_count() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.IGNORED, 50)
    calls(breaker, Outcome.FAILURE, 9)
    assert breaker.state is BreakerState.CLOSED


def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    calls(breaker, Outcome.FAILURE, 9)
    clock.advance(10)
    calls(breaker, Outcome.FAILURE, 1)
    assert breaker.state is BreakerState.CLOSED


def test_open_turns_calls_away_for_exactly_its_open_duration() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(4.999)
    assert breaker.try_acquire() is None
    clock.advance(0.001)
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_admits_exactly_the_configured_number_of_probes() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(5)
    permits = [breaker.try_acquire() for _ in range(5)]
    assert [p is not None for p in permits] == [True, True, True, False, False]


def test_all_probes_succeeding_closes_the_breaker() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(5)
    permits = [breaker.try_acquire() for _ in range(3)]
    for permit in permits[:2]:
        assert permit is not None
        breaker.record(permit, Outcome.SUCCESS, 0.01)
    assert breaker.state is BreakerState.HALF_OPEN
    assert permits[2] is not None
    breaker.record(permits[2], Outcome.SUCCESS, 0.01)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(("outcome", "duration"), [(Outcome.FAILURE, 0.01), (Outcome.SUCCESS, 2.0)])
def test_one_failed_or_slow_probe_reopens_for_another_open_duration(outcome: Outcome, duration: float) -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(5)
    permit = breaker.try_acquire()
    assert permit is not None
    breaker.record(permit, outcome, duration)
    assert breaker.state is BreakerState.OPEN
    clock.advance(4.9)
    assert breaker.state is BreakerState.OPEN
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_cancelled_probe_frees_its_slot() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(5)
    permits = [breaker.try_acquire() for _ in range(3)]
    assert breaker.try_acquire() is None
    assert permits[0] is not None
    breaker.record(permits[0], Outcome.IGNORED, 0.01)
    assert breaker.try_acquire() is not None


def test_outcomes_of_calls_admitted_before_opening_are_not_counted_after() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    early = breaker.try_acquire()
    calls(breaker, Outcome.FAILURE, 10)
    clock.advance(5)
    assert early is not None
    breaker.record(early, Outcome.SUCCESS, 0.01)  # a straggler, not a probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.snapshot()["calls_in_window"] == 0


def test_forced_open_turns_everything_away_until_lifted() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    breaker.force("open")
    clock.advance(3600)
    assert breaker.try_acquire() is None
    breaker.force(None)
    assert breaker.state is BreakerState.CLOSED


def test_forced_closed_admits_everything_and_ignores_failures() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    breaker.force("closed")
    calls(breaker, Outcome.FAILURE, 100)
    assert breaker.state is BreakerState.CLOSED


def test_new_thresholds_apply_without_losing_state() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.FAILURE, 5)
    breaker.policy = POLICY.model_copy(update={"minimum_calls": 6})
    calls(breaker, Outcome.FAILURE, 1)
    assert breaker.state is BreakerState.OPEN


def test_every_transition_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    with caplog.at_level("WARNING", logger="bff.breaker"):
        breaker = opened(clock)
        clock.advance(5)
        assert breaker.state is BreakerState.HALF_OPEN
    messages = [r.getMessage() for r in caplog.records]
    assert any("up@a: closed -> open" in m and "failure rate" in m for m in messages)
    assert any("up@a: open -> half-open" in m for m in messages)


# A call counts as slow while it is still running -----------------------------------------


def test_a_call_still_running_counts_as_slow_the_moment_it_reaches_slow_call_duration() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    calls(breaker, Outcome.SUCCESS, 2)
    running = [breaker.try_acquire() for _ in range(8)]  # 2 fast + 8 hanging: 8/10 slow = 80 %
    clock.advance(0.999)
    assert breaker.try_acquire() is not None
    assert breaker.snapshot()["slow_in_window"] == 0
    clock.advance(0.001)
    assert breaker.try_acquire() is None  # none of the eight has ended, and it is open
    assert breaker.state is BreakerState.OPEN
    assert all(permit is not None and not permit.ended for permit in running)


def test_a_call_counted_slow_while_running_is_not_counted_again_when_it_ends() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    permit = breaker.try_acquire()
    assert permit is not None
    clock.advance(1.5)
    calls(breaker, Outcome.SUCCESS, 1)  # the acquire that notices the first call is slow
    breaker.record(permit, Outcome.SUCCESS, 1.5)
    assert (breaker.snapshot()["calls_in_window"], breaker.snapshot()["slow_in_window"]) == (2, 1)


def test_a_slow_call_that_then_fails_counts_once_as_slow_and_failed() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    permit = breaker.try_acquire()
    assert permit is not None
    clock.advance(1.5)
    calls(breaker, Outcome.SUCCESS, 1)
    breaker.record(permit, Outcome.FAILURE, 1.5)
    snapshot = breaker.snapshot()
    assert (snapshot["calls_in_window"], snapshot["failures_in_window"], snapshot["slow_in_window"]) == (2, 1, 1)


def test_a_cancelled_call_counts_only_if_it_had_already_run_slow() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    quick, slow = breaker.try_acquire(), breaker.try_acquire()
    assert quick is not None and slow is not None
    clock.advance(0.5)
    breaker.record(quick, Outcome.IGNORED, 0.5)
    clock.advance(0.5)
    calls(breaker, Outcome.SUCCESS, 1)
    breaker.record(slow, Outcome.IGNORED, 1.0)
    snapshot = breaker.snapshot()
    assert (snapshot["calls_in_window"], snapshot["slow_in_window"]) == (2, 1)


def test_a_probe_still_running_past_slow_call_duration_reopens() -> None:
    clock = ManualClock()
    breaker = opened(clock)
    clock.advance(5)
    probe = breaker.try_acquire()
    assert probe is not None
    clock.advance(0.999)
    assert breaker.try_acquire() is not None  # a second probe: the first is not slow yet
    clock.advance(0.001)
    assert breaker.try_acquire() is None
    assert breaker.state is BreakerState.OPEN
    assert breaker.last_reason == "half-open probe still running past slow_call_duration"


def test_calls_admitted_while_forced_closed_are_never_counted_slow() -> None:
    clock = ManualClock()
    breaker = Breaker("up@a", POLICY, clock)
    breaker.force("closed")
    running = [breaker.try_acquire() for _ in range(20)]
    clock.advance(60)
    breaker.force(None)
    calls(breaker, Outcome.SUCCESS, 10)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["slow_in_window"] == 0
    assert all(permit is not None for permit in running)


# The policy that shapes the window ---------------------------------------------------------


def test_a_window_that_could_never_reach_minimum_calls_is_refused() -> None:
    with pytest.raises(ValueError, match=r"minimum_calls \(200\) must not exceed window_calls \(100\)"):
        BreakerPolicy(minimum_calls=200)
    assert BreakerPolicy(minimum_calls=200, window_calls=200).window_calls == 200


def test_a_recent_window_longer_than_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match=r"recent_window \(20.0\) must not exceed window \(10.0\)"):
        BreakerPolicy(recent_window=20)


def test_a_new_window_shape_starts_an_empty_window() -> None:
    breaker = Breaker("up@a", POLICY, ManualClock())
    calls(breaker, Outcome.FAILURE, 9)
    breaker.policy = POLICY.model_copy(update={"window_calls": 50})
    calls(breaker, Outcome.FAILURE, 9)
    assert breaker.state is BreakerState.CLOSED
    calls(breaker, Outcome.FAILURE, 1)
    assert breaker.state is BreakerState.OPEN
