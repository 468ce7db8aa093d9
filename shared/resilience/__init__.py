"""Resilience building blocks, each a small state machine with an injected clock:
breaker, retry budget, bulkhead, backoff and latency tracking. ``shared.upstream_client``
composes them into the policy pipeline."""

from shared.resilience.breaker import Breaker, BreakerState, Permit
from shared.resilience.budget import RetryBudget
from shared.resilience.bulkhead import Bulkhead
from shared.resilience.latency import LatencyTracker

__all__ = ["Breaker", "BreakerState", "Bulkhead", "LatencyTracker", "Permit", "RetryBudget"]
