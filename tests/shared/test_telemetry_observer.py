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


def _logged_calls(
    caplog: pytest.LogCaptureFixture, settings: TelemetrySettings, *attempts: tuple[str, int, float]
) -> int:
    telemetry = Telemetry.create("bff_test", "0", settings, exporter=InMemorySpanExporter())
    try:
        with caplog.at_level("INFO", logger="bff.upstream"):
            for outcome, number, duration in attempts:
                telemetry.observer.attempt("catalog", "products", "eu-west-1", number, "closed").finish(
                    outcome, duration, 200
                )
    finally:
        telemetry.shutdown()
    return len([r for r in caplog.records if r.name == "bff.upstream" and r.getMessage() == "upstream call"])


def test_by_default_a_quick_first_answer_gets_no_line_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    assert _logged_calls(caplog, TelemetrySettings(), ("success", 1, 0.01), ("rejected", 1, 0.01)) == 0


@pytest.mark.parametrize(
    ("outcome", "number", "duration"),
    [
        ("timeout", 1, 0.01),  # a failure
        ("failed", 1, 0.01),
        ("cancelled", 1, 0.01),  # e.g. the loser of a hedge
        ("success", 2, 0.01),  # a failover, retry or hedge
        ("success", 1, 0.25),  # slow: at the threshold
    ],
)
def test_by_default_failures_repeats_and_slow_attempts_are_logged(
    caplog: pytest.LogCaptureFixture, outcome: str, number: int, duration: float
) -> None:
    assert _logged_calls(caplog, TelemetrySettings(), (outcome, number, duration)) == 1


def test_log_upstream_calls_all_logs_every_attempt_with_its_number(caplog: pytest.LogCaptureFixture) -> None:
    settings = TelemetrySettings(log_upstream_calls="all")
    assert _logged_calls(caplog, settings, ("success", 1, 0.01), ("success", 1, 0.01)) == 2
    record = next(r for r in caplog.records if r.name == "bff.upstream")
    assert (record.__dict__["attempt"], record.__dict__["outcome"]) == (1, "success")


def test_log_upstream_calls_none_logs_not_even_failures(caplog: pytest.LogCaptureFixture) -> None:
    assert _logged_calls(caplog, TelemetrySettings(log_upstream_calls="none"), ("timeout", 2, 1.0)) == 0


def test_the_slow_threshold_is_a_setting(caplog: pytest.LogCaptureFixture) -> None:
    settings = TelemetrySettings(slow_upstream_call_seconds=0.05)
    assert _logged_calls(caplog, settings, ("success", 1, 0.04), ("success", 1, 0.06)) == 1


@pytest.mark.parametrize(("given", "read"), [(True, "all"), (False, "none"), ("notable", "notable")])
def test_log_upstream_calls_reads_the_old_booleans(given: object, read: str) -> None:
    assert TelemetrySettings.model_validate({"log_upstream_calls": given}).log_upstream_calls == read


def test_log_upstream_calls_refuses_other_values() -> None:
    with pytest.raises(ValueError, match="log_upstream_calls"):
        TelemetrySettings.model_validate({"log_upstream_calls": "some"})
