"""The Prometheus metrics of one process, in a registry of its own (so tests can run
several apps in one process). Names follow Prometheus conventions: base units,
``_total`` for counters, ``_seconds`` for durations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.cache.stores import RedisStore
from shared.client_identity import CohortLabels
from shared.telemetry.tallies import CounterTally, GaugeTally, HistogramTally, TallyCollector

if TYPE_CHECKING:
    from shared.runtime import Runtime

#: Request latency buckets: a BFF answers in milliseconds to a couple of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class Metrics:
    def __init__(self, process: str, version: str, track: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.process = process
        Gauge(
            "bff_build_info",
            "Build and rollout track of this process",
            ["process", "version", "track"],
            registry=self.registry,
        ).labels(process, version, track).set(1)
        # Updated on every request and upstream attempt: plain-number tallies (tallies.py).
        # platform and version: the caller's cohort (shared/client_identity.py), bounded.
        self.requests = CounterTally(
            "bff_http_requests",
            "Inbound HTTP requests by route, status and client cohort",
            ["process", "route", "method", "status", "platform", "version"],
        )
        self.request_duration = HistogramTally(
            "bff_http_request_duration_seconds",
            "Inbound request duration",
            ["process", "route", "method", "platform", "version"],
            LATENCY_BUCKETS,
        )
        self.cohorts = CohortLabels()
        self.registry.register(self.cohorts)
        self.in_flight = GaugeTally(
            "bff_http_requests_in_flight", "Inbound requests being served", {"process": process}
        )
        self.upstream_calls = CounterTally(
            "bff_upstream_calls",
            "Upstream call attempts by outcome (success, rejected, timeout, unavailable, "
            "failed, bad_response, cancelled)",
            ["upstream", "operation", "region", "outcome"],
        )
        self.upstream_duration = HistogramTally(
            "bff_upstream_call_duration_seconds",
            "Upstream call attempt duration",
            ["upstream", "operation", "region"],
            LATENCY_BUCKETS,
        )
        self.registry.register(
            TallyCollector(
                [self.requests, self.request_duration, self.in_flight, self.upstream_calls, self.upstream_duration]
            )
        )

    def watch(self, runtime: Runtime[Any]) -> None:
        """Expose the runtime's live state (breakers, cache, bulkheads, budgets) at scrape time."""
        self.registry.register(_RuntimeCollector(runtime))


class _RuntimeCollector(Collector):
    """Reads state the runtime keeps anyway, when Prometheus asks: zero hot-path cost."""

    def __init__(self, runtime: Runtime[Any]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        upstreams = self._runtime.upstreams
        state = GaugeMetricFamily(
            "bff_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", labels=["upstream", "region"]
        )
        forced = GaugeMetricFamily(
            "bff_breaker_forced", "1 while an operator holds the breaker open or closed", labels=["upstream", "region"]
        )
        transitions = CounterMetricFamily(
            "bff_breaker_transitions", "Circuit breaker state changes", labels=["upstream", "region"]
        )
        retries = CounterMetricFamily("bff_upstream_retries", "Retry rounds started", labels=["upstream"])
        exhausted = CounterMetricFamily(
            "bff_retry_budget_exhausted", "Extra attempts refused by the retry budget", labels=["upstream"]
        )
        rejected = CounterMetricFamily(
            "bff_bulkhead_rejections", "Calls turned away by a full bulkhead", labels=["upstream"]
        )
        for name, client in upstreams.items():
            for region, breaker in client.breakers.items():
                state.add_metric([name, region], BREAKER_STATES[breaker.state.value])
                forced.add_metric([name, region], 1 if breaker.forced else 0)
                transitions.add_metric([name, region], breaker.transitions)
            retries.add_metric([name], client.retries)
            exhausted.add_metric([name], client.budget.exhausted)
            rejected.add_metric([name], client.bulkhead.rejected)
        yield from (state, forced, transitions, retries, exhausted, rejected)
        cache = upstreams.cache
        if cache is None:
            return
        requests = CounterMetricFamily(
            "bff_cache_requests",
            "Cache lookups by result (hit, miss, stale, coalesced)",
            labels=["operation", "result"],
        )
        for operation, counts in cache.counters.items():
            for counter, result in (
                ("hits", "hit"),
                ("misses", "miss"),
                ("stale", "stale"),
                ("coalesced", "coalesced"),
            ):
                requests.add_metric([operation, result], counts[counter])
        errors = CounterMetricFamily("bff_cache_errors", "Cache store operations that failed", labels=["backend"])
        errors.add_metric([cache.store.store.name], cache.store.errors)
        available = GaugeMetricFamily(
            "bff_cache_available", "1 while the cache store's breaker admits calls", labels=["backend"]
        )
        available.add_metric([cache.store.store.name], 0 if cache.store.breaker.state.value == "open" else 1)
        redis_events = CounterMetricFamily(
            "bff_redis_events",
            "Redis connection events: resubscribed (a blind spot ended: the in-process tier was dropped),"
            " primary_changed (the subscription came back on another node: a failover)",
            labels=["topology", "event"],
        )
        store = cache.store.store
        connection = store.connection if isinstance(store, RedisStore) else None
        for event in ("resubscribed", "primary_changed"):  # topology "none": no Redis, nothing to lose
            count = connection.events[event] if connection is not None else 0
            redis_events.add_metric([connection.topology if connection is not None else "none", event], count)
        yield redis_events
        screens = cache.screens
        screen_events = CounterMetricFamily(
            "bff_screen_cache", "Whole screens: answered from the screen cache (hit), kept, dropped", labels=["event"]
        )
        for event, count in (("hit", screens.hits), ("kept", screens.kept), ("dropped", screens.dropped)):
            screen_events.add_metric([event], count)
        screen_bytes = GaugeMetricFamily("bff_screen_cache_bytes", "Bytes of screens the screen cache holds")
        screen_bytes.add_metric([], screens.bytes)
        yield from (requests, errors, available, screen_events, screen_bytes)


__all__ = ["BREAKER_STATES", "LATENCY_BUCKETS", "Metrics"]
