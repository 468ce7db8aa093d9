"""What the upstream client's telemetry seam sends upstream and counts, per attempt."""

from collections.abc import Iterator
from contextvars import Token

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanContext, TraceFlags, TraceState

from shared.settings import TelemetrySettings
from shared.telemetry.request_trace import bind_request_trace, current_request_trace, unbind_request_trace
from shared.telemetry.setup import Telemetry

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SERVER_SPAN_ID = 0x00F067AA0BA902B7


@pytest.fixture
def telemetry() -> Iterator[tuple[Telemetry, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    telemetry = Telemetry.create("bff_test", "0", TelemetrySettings(log_upstream_calls=False), exporter=spans)
    yield telemetry, spans
    telemetry.shutdown()


def _under(flags: int, state: TraceState | None = None) -> Token[context.Context]:
    parent = NonRecordingSpan(SpanContext(TRACE_ID, SERVER_SPAN_ID, False, TraceFlags(flags), state))
    return context.attach(trace.set_span_in_context(parent))


def test_an_unsampled_attempt_still_tells_the_upstream_its_trace(
    telemetry: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    observer, spans = telemetry[0].observer, telemetry[1]
    token = _under(0x00, TraceState([("vendor", "x1")]))
    try:
        attempt = observer.attempt("catalog", "products", "eu-west-1", 1, "closed")
        attempt.finish("success", 0.003, 200)
    finally:
        context.detach(token)
    assert attempt.headers == {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "tracestate": "vendor=x1",
    }
    assert spans.get_finished_spans() == ()


def test_a_sampled_attempt_sends_its_own_client_span_as_the_parent(
    telemetry: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    observer, spans = telemetry[0].observer, telemetry[1]
    token = _under(0x01)
    try:
        attempt = observer.attempt("catalog", "products", "eu-west-1", 2, "half_open")
        attempt.finish("timeout", 0.5)
    finally:
        context.detach(token)
    [client] = spans.get_finished_spans()
    assert attempt.headers["traceparent"] == f"00-{TRACE_ID:032x}-{client.context.span_id:016x}-01"
    assert client.parent is not None and client.parent.span_id == SERVER_SPAN_ID
    assert client.attributes is not None and client.attributes["bff.outcome"] == "timeout"


def test_each_attempt_is_counted_by_upstream_operation_region_and_outcome(
    telemetry: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    observer, registry = telemetry[0].observer, telemetry[0].metrics.registry
    for outcome in ("success", "success", "timeout"):
        observer.attempt("catalog", "products", "eu-west-1", 1, "closed").finish(outcome, 0.01, None)
    labels = {"upstream": "catalog", "operation": "products", "region": "eu-west-1"}
    assert registry.get_sample_value("bff_upstream_calls_total", {**labels, "outcome": "success"}) == 2
    assert registry.get_sample_value("bff_upstream_calls_total", {**labels, "outcome": "timeout"}) == 1
    assert registry.get_sample_value("bff_upstream_call_duration_seconds_count", labels) == 3


def test_an_invalid_server_span_binds_no_trace_and_sends_no_zero_ids(
    telemetry: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    # What a tracer that does nothing (OTEL_SDK_DISABLED) gives the middleware.
    assert bind_request_trace(INVALID_SPAN_CONTEXT) is None
    assert current_request_trace() is None
    attempt = telemetry[0].observer.attempt("catalog", "products", "eu-west-1", 1, "closed")
    assert "traceparent" not in attempt.headers or "-" + "0" * 32 + "-" not in attempt.headers["traceparent"]


def test_a_request_trace_is_gone_once_the_request_ends() -> None:
    token = bind_request_trace(SpanContext(TRACE_ID, SERVER_SPAN_ID, False, TraceFlags(0)))
    assert current_request_trace() is not None
    unbind_request_trace(token)
    assert current_request_trace() is None
