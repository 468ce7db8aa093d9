"""What telemetry does for every upstream attempt and cache lookup: a client span that
carries the trace to the upstream, the call metrics, and (optionally) a log line."""

from __future__ import annotations

import logging

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from shared.telemetry.metrics import Metrics

log = logging.getLogger("bff.upstream")


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
        upstream, operation, region = self._labels
        metrics = self._observer.metrics
        metrics.upstream_calls.labels(upstream, operation, region, outcome).inc()
        metrics.upstream_duration.labels(upstream, operation, region).observe(duration)
        span = self._span
        if span.is_recording():
            span.set_attribute("bff.outcome", outcome)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if outcome not in ("success", "rejected"):
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end()
        if self._observer.log_calls:
            log.info(
                "upstream call",
                extra={
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

    def attempt(self, upstream: str, operation: str, region: str, number: int, breaker_state: str) -> TelemetryAttempt:
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
        return TelemetryAttempt(self, span, (upstream, operation, region))

    def cached(self, upstream: str, operation: str, outcome: str) -> None:
        with self.tracer.start_as_current_span(
            f"cache {upstream}.{operation}",
            kind=SpanKind.INTERNAL,
            attributes={"bff.upstream": upstream, "bff.operation": operation, "bff.cache": outcome},
        ):
            pass


__all__ = ["TelemetryAttempt", "TelemetryObserver"]
