"""A retry budget: extra attempts (retry rounds and hedges) as a share of calls.

With ``budget_ratio`` 0.2, a failing upstream sees at most about 1.2× the inbound call
rate, however many attempts each call's policy allows: retries are a privilege of a
mostly healthy upstream, not a multiplier on an outage.
"""

from __future__ import annotations

from shared.policy import RetryPolicy
from shared.resilience.window import SlidingWindow
from shared.types import Clock


class RetryBudget:
    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self._clock = clock
        self._policy = policy
        self._window = SlidingWindow(policy.budget_window, clock)
        self.exhausted = 0

    @property
    def policy(self) -> RetryPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: RetryPolicy) -> None:
        if policy.budget_window != self._policy.budget_window:
            self._window = SlidingWindow(policy.budget_window, self._clock)
        self._policy = policy

    def record_call(self) -> None:
        """Count one inbound call (its first attempt is always allowed)."""
        self._window.record()

    def allowed(self) -> int:
        """Extra attempts allowed in the current window, in all."""
        totals = self._window.totals()
        return self._policy.budget_min_retries + int(self._policy.budget_ratio * totals.calls)

    def try_spend(self) -> bool:
        """Take one extra attempt from the budget, or refuse if it is used up."""
        if self._window.totals().extra >= self.allowed():
            self.exhausted += 1
            return False
        self._window.record_extra()
        return True


__all__ = ["RetryBudget"]
