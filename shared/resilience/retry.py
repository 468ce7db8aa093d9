"""Retry rounds with tenacity: what is retried, how long to wait, when to stop.

tenacity retries every exception by default; here the predicate is explicit: only
system failures (connection refused or dropped, timeouts, 5xx, 408, 429). A 4xx answer,
a bad answer, an open breaker or a full bulkhead is never retried. The wait is
exponential backoff with full jitter, or the upstream's Retry-After when longer, and
never runs past the request deadline.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from shared.deadline import Deadline
from shared.errors import UpstreamError, UpstreamStatusError
from shared.policy import RetryPolicy

Sleep = Callable[[float], Awaitable[None]]


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.is_system_failure


def _retry_after(state: RetryCallState) -> float:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    if isinstance(error, UpstreamStatusError) and error.retry_after is not None:
        return error.retry_after
    return 0.0


class FullJitterBackoff(wait_base):
    """Wait before retry *n*: uniform in ``[0, min(max_delay, base_delay * 2**(n-1))]``,
    at least the upstream's Retry-After, and leaving ``reserve`` seconds of the deadline."""

    def __init__(self, policy: RetryPolicy, deadline: Deadline, rng: random.Random, reserve: float) -> None:
        self.policy = policy
        self.deadline = deadline
        self.rng = rng
        self.reserve = reserve

    def __call__(self, retry_state: RetryCallState) -> float:
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2 ** (retry_state.attempt_number - 1))
        delay = max(self.rng.uniform(0, ceiling), _retry_after(retry_state))
        return max(0.0, min(delay, self.deadline.remaining() - self.reserve))


class StopAtDeadline(stop_base):
    """Stop when the deadline leaves no room for the Retry-After wait plus ``reserve``."""

    def __init__(self, deadline: Deadline, reserve: float) -> None:
        self.deadline = deadline
        self.reserve = reserve

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.deadline.remaining() <= _retry_after(retry_state) + self.reserve


def retrying(
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    should_retry: Callable[[BaseException], bool] = is_retryable,
    sleep: Sleep,
    rng: random.Random,
    reserve: float,
) -> AsyncRetrying:
    """The retry controller for one call; ``reserve`` is the least time an attempt needs."""
    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | StopAtDeadline(deadline, reserve),
        wait=FullJitterBackoff(policy, deadline, rng, reserve),
        retry=retry_if_exception(should_retry),
        sleep=sleep,
        reraise=True,
    )


__all__ = ["FullJitterBackoff", "Sleep", "StopAtDeadline", "is_retryable", "retrying"]
