"""A circuit breaker per upstream × region, for asyncio.

pybreaker is the state machine (its states, transitions and listeners); this wrapper
closes the gaps that make its own decorator unfit for async fan-out:

* pybreaker counts consecutive failures of sync calls; here outcomes of async calls are
  recorded explicitly and the breaker opens on a *failure rate* or a *slow-call rate*
  over an ``OutcomeWindow`` (``shared.resilience.outcomes``): a count window of the last
  ``window_calls`` outcomes, cut to the last ``recent_window`` seconds but never below
  ``minimum_calls`` (nor past ``window`` seconds). Thousands of earlier successes cannot
  hide a fresh outage: with the defaults (100 calls, 1 s, 20 calls, 10 s, 50 %) a region
  that starts failing trips after at most 50 failed calls and within about a second at
  any rate from 10 calls/s up (10 failures at 10 calls/s; 50 in 0.07 s at 700 calls/s);
* a call counts as slow *once it has run* ``slow_call_duration``, while still running:
  permits in flight wait in a queue in the order they were issued, and every acquire and
  record looks at the oldest (no timer or task per call), so a hung region trips as it
  hangs, not when its calls finally time out;
* pybreaker's half-open state lets every concurrent call through; here exactly
  ``half_open_probes`` permits are handed out, one failed (or still-running slow) probe
  reopens, and all probes succeeding closes;
* time comes from an injected clock, so tests prove the boundaries without sleeping.

Callers take a ``Permit`` before a call and give back its outcome::

    permit = breaker.try_acquire()
    if permit is None: ...                  # open: skip this region
    breaker.record(permit, Outcome.SUCCESS, duration)

Only system failures are ``FAILURE``; a 4xx answer is a ``SUCCESS`` and a cancelled call
``IGNORED`` (still counted slow if it had already run past ``slow_call_duration``).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import Literal

import pybreaker

from shared.policy import BreakerPolicy
from shared.resilience.outcomes import OutcomeWindow
from shared.types import Clock

log = logging.getLogger("bff.breaker")


class BreakerState(enum.StrEnum):
    CLOSED = pybreaker.STATE_CLOSED
    OPEN = pybreaker.STATE_OPEN
    HALF_OPEN = pybreaker.STATE_HALF_OPEN


#: pybreaker's state names to ours, for the hot path (``BreakerState(name)`` costs more).
_STATES = {state.value: state for state in BreakerState}


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    #: Neither: the caller cancelled, or the attempt never reached the upstream.
    IGNORED = "ignored"


@dataclass(slots=True)
class Permit:
    """Leave to make one call; give it back to ``Breaker.record`` when the call ends."""

    generation: int
    probe: bool
    #: When the breaker issued it (its clock): the call counts as slow from
    #: ``started + slow_call_duration`` on, ended or not.
    started: float
    ended: bool = False
    #: The window's number of the slow outcome counted while the call still ran, else -1.
    counted_slow: int = -1


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


def _window_for(policy: BreakerPolicy) -> OutcomeWindow:
    return OutcomeWindow(
        max_calls=policy.window_calls,
        min_calls=policy.minimum_calls,
        recent=policy.recent_window,
        max_age=policy.window,
    )


def _window_shape(policy: BreakerPolicy) -> tuple[float, float, int]:
    return policy.window, policy.recent_window, policy.window_calls


class Breaker:
    def __init__(self, name: str, policy: BreakerPolicy, clock: Clock) -> None:
        self.name = name
        self._policy = policy
        self._clock = clock
        self._window = _window_for(policy)
        self._machine = pybreaker.CircuitBreaker(
            name=name, reset_timeout=policy.open_duration, listeners=[_TransitionLog(self)]
        )
        self._generation = 0
        self._opened_at = 0.0
        #: Permits issued while closed, oldest first, until they end or turn slow.
        self._running: deque[Permit] = deque()
        self._probes: list[Permit] = []
        self._probe_successes = 0
        self.forced: Literal["open", "closed"] | None = None
        self.transitions = 0
        self.last_reason = "start"

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: BreakerPolicy) -> None:
        """Swap thresholds in place (hot reload); a window of a new shape starts empty."""
        if _window_shape(policy) != _window_shape(self._policy):
            self._window = _window_for(policy)
        else:
            self._window.min_calls = policy.minimum_calls
        self._policy = policy
        self._machine.reset_timeout = policy.open_duration

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose wait is over becomes half-open here."""
        state = _STATES[self._machine.current_state]
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
        now = self._clock()
        if self.forced == "closed":
            return Permit(self._generation, False, now)
        state = self.state
        if state is BreakerState.CLOSED:
            running = self._running
            if running and (running[0].ended or running[0].started <= now - self._policy.slow_call_duration):
                generation = self._generation
                self._sweep(now)
                if self._generation != generation:
                    return None  # a call still running turned slow and tripped the breaker
            permit = Permit(self._generation, False, now)
            running.append(permit)
            return permit
        if state is BreakerState.OPEN:
            return None
        slow_edge = now - self._policy.slow_call_duration
        for probe in self._probes:
            if probe.started <= slow_edge:
                self._open("half-open probe still running past slow_call_duration")
                return None
        if len(self._probes) + self._probe_successes >= self._policy.half_open_probes:
            return None
        permit = Permit(self._generation, True, now)
        self._probes.append(permit)
        return permit

    def record(self, permit: Permit, outcome: Outcome, duration: float) -> None:
        """Give back a permit with the call's outcome and how long it took."""
        permit.ended = True
        if permit.generation != self._generation:
            return  # issued before the last transition: its outcome belongs to an old state
        policy = self._policy
        if permit.probe:
            self._probes.remove(permit)
            slow = duration >= policy.slow_call_duration
            if outcome is Outcome.FAILURE or (outcome is Outcome.SUCCESS and slow):
                self._open("half-open probe failed" if outcome is Outcome.FAILURE else "half-open probe slow")
            elif outcome is Outcome.SUCCESS:
                self._probe_successes += 1
                if self._probe_successes >= policy.half_open_probes:
                    self._transition(BreakerState.CLOSED, f"{self._probe_successes} probes succeeded")
            return
        if self.forced is not None:
            return
        now = self._clock()
        if permit.counted_slow >= 0:  # already counted slow while it ran; a failure adds to that
            if outcome is Outcome.FAILURE and self._window.mark_failed(permit.counted_slow) and self._evaluate():
                return
        elif outcome is not Outcome.IGNORED:
            self._window.add(now, failed=outcome is Outcome.FAILURE, slow=duration >= policy.slow_call_duration)
            if self._evaluate():
                return
        running = self._running
        if running and (running[0].ended or running[0].started <= now - policy.slow_call_duration):
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forget ended permits at the head of the queue, and count as slow those that
        have run ``slow_call_duration`` (stopping if that opens the breaker)."""
        running = self._running
        slow_edge = now - self._policy.slow_call_duration
        while running:
            head = running[0]
            if not head.ended:
                if head.started > slow_edge:
                    return
                head.counted_slow = self._window.add(now, failed=False, slow=True)
            running.popleft()
            if not head.ended and self._evaluate():
                return

    def _evaluate(self) -> bool:
        """Open if the window says so; ``True`` if it did."""
        window = self._window
        calls = window.calls
        policy = self._policy
        if calls < policy.minimum_calls:
            return False
        if window.failures >= policy.failure_rate * calls:
            self._open(f"failure rate {window.failures}/{calls} >= {policy.failure_rate:.0%}")
            return True
        if window.slow >= policy.slow_call_rate * calls:
            self._open(f"slow-call rate {window.slow}/{calls} >= {policy.slow_call_rate:.0%}")
            return True
        return False

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN, reason)

    def _transition(self, state: BreakerState, reason: str) -> None:
        self.last_reason = reason
        self._generation += 1
        self._running.clear()
        self._probes.clear()
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
        window = self._window
        window.trim(self._clock())
        return {
            "state": self.state.value,
            "forced": self.forced,
            "calls_in_window": window.calls,
            "failures_in_window": window.failures,
            "slow_in_window": window.slow,
            "transitions": self.transitions,
            "last_reason": self.last_reason,
        }


__all__ = ["Breaker", "BreakerState", "Outcome", "Permit"]
