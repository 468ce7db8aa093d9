"""Call policies as data.

A policy is a frozen pydantic model. Upstream packages declare defaults in code; the
process config overrides them per upstream and per operation. Only the fields an SRE
actually wrote in the YAML override the code default (pydantic's ``model_fields_set``,
applied recursively), so one model serves both as the default and as the override, with
no second schema to keep in step.

Which scope each part applies to:

* ``connect_timeout``, ``attempt_timeout``, ``failover``, ``retry``, ``hedge``, ``cache``: per operation.
* ``breaker``: per upstream × region (the upstream-wide policy; operation overrides of it
  are ignored, since all operations of a region share its breaker).
* ``bulkhead``: per upstream (the upstream-wide policy).
"""

from __future__ import annotations

from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FrozenModel(BaseModel):
    """Base for policy and settings models: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(FrozenModel):
    """Retries of system failures, for idempotent calls or writes with an Idempotency-Key.

    Backoff is exponential with full jitter: the wait before retry *n* (1-based) is uniform
    in ``[0, min(max_delay, base_delay * 2 ** (n - 1))]``, or the upstream's Retry-After
    when that is longer (capped by ``max_delay`` and the request deadline).
    """

    #: Rounds of attempts in all (1 = no retry). A round tries each admitted region once.
    attempts: int = Field(default=2, ge=1, le=10)
    base_delay: float = Field(default=0.025, ge=0, le=10)
    max_delay: float = Field(default=0.5, ge=0, le=60)
    #: Extra attempts (retry rounds and hedges) allowed as a share of calls in the window.
    budget_ratio: float = Field(default=0.2, ge=0, le=10)
    #: Extra attempts always allowed per window, so a quiet upstream can still be retried.
    budget_min_retries: int = Field(default=3, ge=0)
    budget_window: float = Field(default=10.0, gt=0, le=600)


class BreakerPolicy(FrozenModel):
    """When a region of an upstream is cut off, and how it is probed back.

    A decision looks at the most recent outcomes: every one of the last
    ``recent_window`` seconds, but at most ``window_calls`` of them, and at least
    ``minimum_calls`` (reaching back up to ``window`` seconds to find them). So a fresh
    outage trips the breaker within about a second at any rate: at 700 calls/s the
    decision is over the last 100 calls (50 failures, ~0.07 s); at 10 calls/s over the
    last 20 (10 failures, 1 s). A call counts as slow once it has run for
    ``slow_call_duration``, while it is still running.
    """

    #: No outcome older than this counts, not even to make up ``minimum_calls``.
    window: float = Field(default=10.0, gt=0, le=600)
    #: Outcomes older than this count only while fewer than ``minimum_calls`` are newer.
    recent_window: float = Field(default=1.0, gt=0, le=600)
    #: A decision looks at no more than this many of the latest outcomes.
    window_calls: int = Field(default=100, ge=1, le=10_000)
    #: No decision before this many outcomes are in the window.
    minimum_calls: int = Field(default=20, ge=1)
    #: Open when failures / calls reaches this share.
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    #: A call running this long counts as slow, at that moment (even if it then succeeds).
    slow_call_duration: float = Field(default=1.0, gt=0)
    #: Open when slow calls / calls reaches this share (1.0: only if every call is slow).
    slow_call_rate: float = Field(default=1.0, gt=0, le=1)
    #: How long to stay open before probing.
    open_duration: float = Field(default=5.0, gt=0, le=3600)
    #: Probes admitted while half-open; all must succeed to close, one failure reopens.
    half_open_probes: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _window_can_decide(self) -> Self:
        if self.minimum_calls > self.window_calls:
            raise ValueError(
                f"minimum_calls ({self.minimum_calls}) must not exceed window_calls ({self.window_calls}): "
                "the window never holds more outcomes than window_calls, so the breaker could never open; "
                "raise window_calls too"
            )
        if self.recent_window > self.window:
            raise ValueError(f"recent_window ({self.recent_window}) must not exceed window ({self.window})")
        return self


class BulkheadPolicy(FrozenModel):
    """A cap on concurrent calls to one upstream, with a short wait and then a rejection."""

    max_concurrent: int = Field(default=100, ge=1)
    max_wait: float = Field(default=0.01, ge=0, le=5)


class HedgePolicy(FrozenModel):
    """Opt-in: after the operation's observed p95, send a second attempt to the next region;
    the first answer wins and the other is cancelled."""

    enabled: bool = False
    #: Never hedge sooner than this, whatever the p95 says.
    min_delay: float = Field(default=0.02, ge=0)
    #: The latency quantile after which the hedge is sent.
    quantile: float = Field(default=0.95, gt=0, lt=1)
    #: Observations needed before hedging starts (the p95 of too few calls means nothing).
    min_samples: int = Field(default=20, ge=1)


class CachePolicy(FrozenModel):
    """Caching of an operation's answers (GET only). ``ttl`` 0 means not cached."""

    #: Seconds an entry is fresh: served without calling the upstream.
    ttl: float = Field(default=0, ge=0, le=86400)
    #: Seconds after ``ttl`` during which the stale entry may still be served: at once
    #: while one background refresh runs (stale-while-revalidate), or when the upstream
    #: fails (stale-if-error).
    stale_ttl: float = Field(default=0, ge=0, le=86400)
    #: ``user``: entries are keyed per caller and never served to another; ``shared``: one
    #: entry for everyone.
    scope: Literal["shared", "user"] = "shared"
    #: Serve stale at once and refresh in the background; ``False`` refreshes first and
    #: serves stale only if that fails.
    stale_while_revalidate: bool = True


class CallPolicy(FrozenModel):
    """How one upstream operation is called.

    ``connect_timeout`` bounds establishing a connection; ``attempt_timeout`` bounds one
    whole attempt (connect, send, and reading the full body, so a slow-dripping upstream
    still ends). Both are further capped by what is left of the inbound request's deadline.
    """

    connect_timeout: float = Field(default=0.25, gt=0, le=30)
    attempt_timeout: float = Field(default=1.0, gt=0, le=60)
    #: Try the next region in the failover order after a system failure (only for
    #: idempotent operations or writes carrying an Idempotency-Key).
    failover: bool = True
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    bulkhead: BulkheadPolicy = BulkheadPolicy()
    hedge: HedgePolicy = HedgePolicy()
    cache: CachePolicy = CachePolicy()

    @model_validator(mode="after")
    def _connect_within_attempt(self) -> Self:
        if self.connect_timeout > self.attempt_timeout:
            raise ValueError(
                f"connect_timeout ({self.connect_timeout}) must not exceed attempt_timeout ({self.attempt_timeout})"
            )
        return self

    def overlaid(self, override: CallPolicy | None) -> CallPolicy:
        """Return this policy with the fields explicitly set in ``override`` replaced."""
        if override is None or not override.model_fields_set:
            return self
        return overlay(self, override)


ModelT = TypeVar("ModelT", bound=FrozenModel)


def overlay(base: ModelT, override: ModelT) -> ModelT:
    """``base`` with every field written in ``override`` replaced, nested models merged
    the same way; the result is validated again, so cross-field rules hold."""
    changes: dict[str, Any] = {}
    for name in override.model_fields_set:
        value = getattr(override, name)
        current = getattr(base, name)
        if isinstance(value, FrozenModel) and isinstance(current, FrozenModel):
            value = overlay(current, value)
        changes[name] = value.model_dump() if isinstance(value, BaseModel) else value
    return type(base).model_validate(base.model_dump() | changes)


__all__ = [
    "BreakerPolicy",
    "BulkheadPolicy",
    "CachePolicy",
    "CallPolicy",
    "FrozenModel",
    "HedgePolicy",
    "RetryPolicy",
    "overlay",
]
