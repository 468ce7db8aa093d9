"""A circuit breaker per upstream × region, for asyncio.

pybreaker is the state machine (its states, transitions and listeners); this wrapper
closes the gaps that make its own decorator unfit for async fan-out:

* pybreaker counts consecutive failures of sync calls; here outcomes of async calls are
  recorded explicitly, over a sliding time window, and the breaker opens on a *failure
  rate* or a *slow-call rate* once ``minimum_calls`` have been seen;
* pybreaker's half-open state lets every concurrent call through; here exactly
  ``half_open_probes`` permits are handed out, one failed probe reopens, and all
  probes succeeding closes;
* time comes from an injected clock, so tests prove the boundaries without sleeping.

Callers take a ``Permit`` before a call and give back its outcome::

    permit = breaker.try_acquire()
    if permit is None: ...                  # open: skip this region
    breaker.record(permit, Outcome.SUCCESS, duration)
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Literal

import pybreaker

from shared.policy import BreakerPolicy
from shared.resilience.window import SlidingWindow
from shared.types import Clock

log = logging.getLogger("bff.breaker")


class BreakerState(enum.StrEnum):
    CLOSED = pybreaker.STATE_CLOSED
    OPEN = pybreaker.STATE_OPEN
    HALF_OPEN = pybreaker.STATE_HALF_OPEN


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    #: Neither: the caller cancelled, or the attempt never reached the upstream.
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Permit:
    generation: int
    probe: bool


class _TransitionLog(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: Breaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        old = old_state.name if old_state is not None else "none"
        log.warning("breaker %s: %s -> %s (%s)", cb.name, old, new_state.name, self._owner.last_reason)
        self._owner.transitions += 1


class Breaker:
    def __init__(self, name: str, policy: BreakerPolicy, clock: Clock) -> None:
        self.name = name
        self._policy = policy
        self._clock = clock
        self._window = SlidingWindow(policy.window, clock)
        self._machine = pybreaker.CircuitBreaker(
            name=name, reset_timeout=policy.open_duration, listeners=[_TransitionLog(self)]
        )
        self._generation = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self.forced: Literal["open", "closed"] | None = None
        self.transitions = 0
        self.last_reason = "start"

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: BreakerPolicy) -> None:
        """Swap thresholds in place (hot reload); a new window span starts a fresh window."""
        if policy.window != self._policy.window:
            self._window = SlidingWindow(policy.window, self._clock)
        self._policy = policy
        self._machine.reset_timeout = policy.open_duration

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose wait is over becomes half-open here."""
        state = BreakerState(self._machine.current_state)
        if (
            state is BreakerState.OPEN
            and self.forced is None
            and self._clock() >= self._opened_at + self._policy.open_duration
        ):
            self._transition(BreakerState.HALF_OPEN, "open duration elapsed")
            return BreakerState.HALF_OPEN
        return state

    def try_acquire(self) -> Permit | None:
        """A permit to call, or ``None`` if the breaker turns the call away."""
        if self.forced == "closed":
            return Permit(self._generation, probe=False)
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if state is BreakerState.OPEN:
            return None
        if self._probes_in_flight + self._probe_successes >= self._policy.half_open_probes:
            return None
        self._probes_in_flight += 1
        return Permit(self._generation, probe=True)

    def record(self, permit: Permit, outcome: Outcome, duration: float) -> None:
        """Give back a permit with the call's outcome and how long it took."""
        if permit.generation != self._generation:
            return  # issued before the last transition: its outcome belongs to an old state
        slow = duration >= self._policy.slow_call_duration
        if permit.probe:
            self._probes_in_flight -= 1
            if outcome is Outcome.FAILURE or (outcome is Outcome.SUCCESS and slow):
                self._open("half-open probe failed" if outcome is Outcome.FAILURE else "half-open probe slow")
            elif outcome is Outcome.SUCCESS:
                self._probe_successes += 1
                if self._probe_successes >= self._policy.half_open_probes:
                    self._transition(BreakerState.CLOSED, f"{self._probe_successes} probes succeeded")
            return
        if outcome is Outcome.IGNORED or self.forced is not None:
            return
        self._window.record(failed=outcome is Outcome.FAILURE, slow=slow)
        self._evaluate()

    def _evaluate(self) -> None:
        totals = self._window.totals()
        policy = self._policy
        if totals.calls < policy.minimum_calls:
            return
        if totals.failures >= policy.failure_rate * totals.calls:
            self._open(f"failure rate {totals.failures}/{totals.calls} >= {policy.failure_rate:.0%}")
        elif totals.slow >= policy.slow_call_rate * totals.calls:
            self._open(f"slow-call rate {totals.slow}/{totals.calls} >= {policy.slow_call_rate:.0%}")

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, state: BreakerState, reason: str) -> None:
        self.last_reason = reason
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._window.clear()
        if state is BreakerState.OPEN:
            self._machine.open()
        elif state is BreakerState.HALF_OPEN:
            self._machine.half_open()
        else:
            self._machine.close()

    def force(self, mode: Literal["open", "closed"] | None) -> None:
        """Operator override: hold the breaker open or closed, or (``None``) resume."""
        was_forced = self.forced is not None
        self.forced = mode
        if mode == "open":
            self._open("forced open by an operator")
        elif mode == "closed":
            self._transition(BreakerState.CLOSED, "forced closed by an operator")
        elif was_forced or self.state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED, "operator override lifted")
        else:
            self._window.clear()  # already closed and automatic: start a fresh window

    def snapshot(self) -> dict[str, object]:
        totals = self._window.totals()
        return {
            "state": self.state.value,
            "forced": self.forced,
            "calls_in_window": totals.calls,
            "failures_in_window": totals.failures,
            "slow_in_window": totals.slow,
            "transitions": self.transitions,
            "last_reason": self.last_reason,
        }


__all__ = ["Breaker", "BreakerState", "Outcome", "Permit"]
