"""What telemetry does for every upstream attempt and cache lookup: a client span that
carries the trace to the upstream, the call metrics, and (optionally) a log line.

This runs five or more times per inbound request, so it avoids the costly parts of the
libraries where the result is known: metric children are looked up once per label set
(``labels()`` costs as much again as the increment), and under a parent that is not
sampled no span is started at all (the parent-based sampler would drop it, after the SDK
had built it, attributes and all)."""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode, Tracer

from shared.telemetry.logs import HotLog
from shared.telemetry.metrics import Metrics

log = HotLog("bff.upstream")


class TelemetryAttempt:
    __slots__ = ("_labels", "_observer", "_span", "headers")

    def __init__(self, observer: TelemetryObserver, span: trace.Span, labels: tuple[str, str, str]) -> None:
        self._observer = observer
        self._span = span
        self._labels = labels
        self.headers: dict[str, str] = {}
        if span.is_recording():
            propagate.inject(self.headers, context=trace.set_span_in_context(span))

    def finish(self, outcome: str, duration: float, status: int | None = None) -> None:
        observer = self._observer
        observer.count(self._labels, outcome, duration)
        span = self._span
        if span.is_recording():
            span.set_attribute("bff.outcome", outcome)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if outcome not in ("success", "rejected"):
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end()
        if observer.log_calls:
            upstream, operation, region = self._labels
            log.info(
                "upstream call",
                {
                    "upstream": upstream,
                    "operation": operation,
                    "region": region,
                    "outcome": outcome,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                },
            )


class TelemetryObserver:
    """The ``UpstreamObserver`` of a process with telemetry on."""

    def __init__(self, metrics: Metrics, tracer: Tracer, *, log_calls: bool) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.log_calls = log_calls
        self._calls: dict[tuple[str, str, str, str], Any] = {}
        self._durations: dict[tuple[str, str, str], Any] = {}

    def attempt(self, upstream: str, operation: str, region: str, number: int, breaker_state: str) -> TelemetryAttempt:
        labels = (upstream, operation, region)
        if _parent_unsampled():
            return TelemetryAttempt(self, INVALID_SPAN, labels)
        span = self.tracer.start_span(
            f"{upstream}.{operation}",
            kind=SpanKind.CLIENT,
            attributes={
                "bff.upstream": upstream,
                "bff.operation": operation,
                "bff.region": region,
                "bff.attempt": number,
                "bff.breaker_state": breaker_state,
            },
        )
        return TelemetryAttempt(self, span, labels)

    def cached(self, upstream: str, operation: str, outcome: str) -> None:
        if _parent_unsampled():
            return
        with self.tracer.start_as_current_span(
            f"cache {upstream}.{operation}",
            kind=SpanKind.INTERNAL,
            attributes={"bff.upstream": upstream, "bff.operation": operation, "bff.cache": outcome},
        ):
            pass

    def count(self, labels: tuple[str, str, str], outcome: str, duration: float) -> None:
        """Count one finished attempt in ``bff_upstream_calls`` and its duration histogram."""
        key = (*labels, outcome)
        calls = self._calls.get(key)
        if calls is None:
            calls = self._calls[key] = self.metrics.upstream_calls.labels(*key)
        calls.inc()
        durations = self._durations.get(labels)
        if durations is None:
            durations = self._durations[labels] = self.metrics.upstream_duration.labels(*labels)
        durations.observe(duration)


def _parent_unsampled() -> bool:
    """True when the parent-based sampler would drop a new span here anyway."""
    parent = trace.get_current_span().get_span_context()
    return parent.is_valid and not parent.trace_flags.sampled


__all__ = ["TelemetryAttempt", "TelemetryObserver"]
