"""What telemetry does for every upstream attempt and cache lookup: a client span that
carries the trace to the upstream, the call metrics, and a log line when the attempt is
worth one on its own (``telemetry.log_upstream_calls``: by default only failures, repeats
such as failovers, retries and hedges, and slow attempts; the request's line, the metrics
and the spans carry the rest).

This runs five or more times per inbound request, so it avoids the costly parts of the
libraries where the result is known: metric children and the constant part of the log
line are made once per upstream × operation × region (the metrics are tallies:
``shared.telemetry.tallies``), and under a parent that is not sampled no span is started at all (the
parent-based sampler would drop it, after the SDK had built it, attributes and all); the
upstream is still sent the unsampled ``traceparent``, so its logs name the trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

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


#: Outcomes that are no news on their own: an answer (a 4xx is one too).
QUIET_OUTCOMES = frozenset({"success", "rejected"})
UpstreamCallLogging = Literal["notable", "all", "none"]


class TelemetryAttempt:
    __slots__ = ("_number", "_observer", "_series", "_span", "headers")

    def __init__(
        self,
        observer: TelemetryObserver,
        series: _Series,
        number: int,
        span: trace.Span | None,
        headers: Mapping[str, str],
    ) -> None:
        self._observer = observer
        self._series = series
        self._number = number
        self._span = span
        #: What the upstream is sent to continue the trace (W3C ``traceparent``).
        self.headers = headers

    def finish(self, outcome: str, duration: float, status: int | None = None) -> None:
        self._series.count(outcome, duration)
        span = self._span
        if span is not None and span.is_recording():
            span.set_attribute("bff.outcome", outcome)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if outcome not in QUIET_OUTCOMES:
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end()
        observer = self._observer
        if observer.log_every_call or (
            observer.log_notable_calls
            and (outcome not in QUIET_OUTCOMES or self._number > 1 or duration >= observer.slow_seconds)
        ):
            log.info(
                "upstream call",
                {
                    "outcome": outcome,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "attempt": self._number,
                },
                fixed=self._series.log_members,
            )


class TelemetryObserver:
    """The ``UpstreamObserver`` of a process with telemetry on.

    ``log_calls`` says which attempts get a line of their own: ``notable`` ones (failed,
    a repeat, numbered 2 or more, or taking ``slow_seconds`` or longer), ``all`` or ``none``."""

    def __init__(
        self, metrics: Metrics, tracer: Tracer, *, log_calls: UpstreamCallLogging, slow_seconds: float = 0.25
    ) -> None:
        self.metrics = metrics
        self.tracer = tracer
        self.log_every_call = log_calls == "all"
        self.log_notable_calls = log_calls == "notable"
        self.slow_seconds = slow_seconds
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
            return TelemetryAttempt(self, series, number, None, unsampled.unsampled_headers)
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
        return TelemetryAttempt(self, series, number, span, headers)

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


__all__ = ["QUIET_OUTCOMES", "TelemetryAttempt", "TelemetryObserver", "UpstreamCallLogging"]
