"""What telemetry does for every upstream attempt and cache lookup: a client span that
carries the trace to the upstream, the call metrics, and (optionally) a log line.

This runs five or more times per inbound request, so it avoids the costly parts of the
libraries where the result is known: metric children and the constant part of the log
line are made once per upstream × operation × region (the metrics are tallies:
``shared.telemetry.tallies``), and under a parent that is not sampled no span is started at all (the
parent-based sampler would drop it, after the SDK had built it, attributes and all); the
upstream is still sent the unsampled ``traceparent``, so its logs name the trace."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from shared.telemetry.logs import HotLog, json_members
from shared.telemetry.metrics import Metrics
from shared.telemetry.request_trace import RequestTrace, current_request_trace, trace_of

log = HotLog("bff.upstream")


class _Series:
    """One upstream × operation × region: its duration histogram and the constant part of
    its log line, made on its first call."""

    __slots__ = ("calls", "durations", "labels", "log_members")

    def __init__(self, metrics: Metrics, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.calls = metrics.upstream_calls
        self.durations = metrics.upstream_duration.child(labels)
        upstream, operation, region = labels
        self.log_members = json_members({"upstream": upstream, "operation": operation, "region": region})

    def count(self, outcome: str, duration: float) -> None:
        self.calls.inc((*self.labels, outcome))
        self.durations.observe(duration)


class TelemetryAttempt:
    __slots__ = ("_log_calls", "_series", "_span", "headers")

    def __init__(
        self, series: _Series, span: trace.Span | None, headers: Mapping[str, str], *, log_calls: bool
    ) -> None:
        self._series = series
        self._span = span
        self._log_calls = log_calls
        #: What the upstream is sent to continue the trace (W3C ``traceparent``).
        self.headers = headers

    def finish(self, outcome: str, duration: float, status: int | None = None) -> None:
        self._series.count(outcome, duration)
        span = self._span
        if span is not None and span.is_recording():
            span.set_attribute("bff.outcome", outcome)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if outcome not in ("success", "rejected"):
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end()
        if self._log_calls:
            log.info(
                "upstream call",
                {"outcome": outcome, "status": status, "duration_ms": round(duration * 1000, 2)},
                fixed=self._series.log_members,
            )


class TelemetryObserver:
    """The ``UpstreamObserver`` of a process with telemetry on."""

    def __init__(self, metrics: Metrics, tracer: Tracer, *, log_calls: bool) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.log_calls = log_calls
        self._series: dict[tuple[str, str, str], _Series] = {}

    def attempt(self, upstream: str, operation: str, region: str, number: int, breaker_state: str) -> TelemetryAttempt:
        labels = (upstream, operation, region)
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _Series(self.metrics, labels)
        unsampled = _unsampled_trace()
        if unsampled is not None:
            # The parent-based sampler would drop the span: start none, but still tell the
            # upstream which (unsampled) trace it is part of, so its logs can name it.
            return TelemetryAttempt(series, None, unsampled.unsampled_headers, log_calls=self.log_calls)
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
        headers: dict[str, str] = {}
        if span.is_recording():
            propagate.inject(headers, context=trace.set_span_in_context(span))
        return TelemetryAttempt(series, span, headers, log_calls=self.log_calls)

    def cached(self, upstream: str, operation: str, outcome: str) -> None:
        if _unsampled_trace() is not None:
            return
        with self.tracer.start_as_current_span(
            f"cache {upstream}.{operation}",
            kind=SpanKind.INTERNAL,
            attributes={"bff.upstream": upstream, "bff.operation": operation, "bff.cache": outcome},
        ):
            pass


def _unsampled_trace() -> RequestTrace | None:
    """The trace this code runs in, when the parent-based sampler would drop a new span in
    it anyway: the request's, bound once, else the current span's (outside a request)."""
    request = current_request_trace()
    if request is None:
        parent = trace.get_current_span().get_span_context()
        if not parent.is_valid:
            return None
        request = trace_of(parent)
    return None if request.sampled else request


__all__ = ["TelemetryAttempt", "TelemetryObserver"]
