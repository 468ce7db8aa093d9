"""Backoff delays and stop conditions, exact: a seeded RNG and a manual clock."""

import random

from tenacity import AsyncRetrying, RetryCallState

from shared import Deadline, RetryPolicy, UpstreamStatusError
from shared.resilience.retry import FullJitterBackoff, StopAtDeadline, is_retryable
from tests.shared.resilience.clock import ManualClock


class MaxRandom(random.Random):
    """Always draws the top of the range, so the jitter ceiling is observable."""

    def uniform(self, a: float, b: float) -> float:
        return b


def state(attempt: int, error: BaseException | None = None) -> RetryCallState:
    retry_state = RetryCallState(retry_object=AsyncRetrying(), fn=None, args=(), kwargs={})
    retry_state.attempt_number = attempt
    if error is not None:
        retry_state.set_exception((type(error), error, None))
    return retry_state


POLICY = RetryPolicy(base_delay=0.1, max_delay=1.0)


def test_backoff_ceiling_doubles_per_attempt_up_to_max_delay() -> None:
    wait = FullJitterBackoff(POLICY, Deadline.after(60), MaxRandom(), reserve=0)
    assert [round(wait(state(n)), 6) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_is_full_jitter_between_zero_and_the_ceiling() -> None:
    wait = FullJitterBackoff(POLICY, Deadline.after(60), random.Random(7), reserve=0)
    delays = [wait(state(3)) for _ in range(200)]
    assert min(delays) >= 0
    assert max(delays) <= 0.4
    assert min(delays) < 0.1 < 0.3 < max(delays)


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    error = UpstreamStatusError("up", "op", 429, retry_after=2.5)
    wait = FullJitterBackoff(POLICY, Deadline.after(60), MaxRandom(), reserve=0)
    assert wait(state(1, error)) == 2.5


def test_backoff_never_sleeps_past_the_deadline_minus_reserve() -> None:
    clock = ManualClock()
    wait = FullJitterBackoff(POLICY, Deadline.after(0.5, clock), MaxRandom(), reserve=0.2)
    assert round(wait(state(5)), 6) == 0.3


def test_stop_when_retry_after_would_outlast_the_deadline() -> None:
    clock = ManualClock()
    stop = StopAtDeadline(Deadline.after(1.0, clock), reserve=0.1)
    assert not stop(state(1, UpstreamStatusError("up", "op", 503, retry_after=0.8)))
    assert stop(state(1, UpstreamStatusError("up", "op", 503, retry_after=0.9)))


def test_only_system_failures_are_retryable() -> None:
    from shared import BreakerOpen, UpstreamBadResponse, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable

    assert is_retryable(UpstreamTimeout("up", "op", "slow"))
    assert is_retryable(UpstreamUnavailable("up", "op", "refused"))
    assert is_retryable(UpstreamStatusError("up", "op", 503))
    assert not is_retryable(UpstreamRejected("up", "op", 404, "not_found"))
    assert not is_retryable(UpstreamBadResponse("up", "op", "garbage"))
    assert not is_retryable(BreakerOpen("up", "op", "open"))
    assert not is_retryable(ValueError("bug"))
