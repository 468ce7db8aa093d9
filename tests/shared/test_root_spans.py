"""Server spans of requests that carry no trace: the ratio decided on the drawn trace id,
the same decision the SDK's sampler makes, and the same trace id either way."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan

from shared.settings import TelemetrySettings
from shared.telemetry.tracing import RootSpans, build_tracer_provider


def roots(ratio: float) -> tuple[RootSpans, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider("t", "1", TelemetrySettings(sampling_ratio=ratio), exporter)
    return RootSpans(provider.get_tracer("t"), ratio), exporter


@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.5, 1.0])
def test_a_root_span_is_sampled_exactly_when_the_ratio_sampler_would_sample_its_trace_id(ratio: float) -> None:
    spans, exporter = roots(ratio)
    bound = TraceIdRatioBased.get_bound_for_rate(ratio)
    started = [spans.start("GET") for _ in range(400)]
    recorded = [span for span in started if span.is_recording()]
    for span in started:
        context = span.get_span_context()
        assert context.is_valid
        expected = context.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound
        assert bool(context.trace_flags.sampled) is expected
        assert span.is_recording() is expected
        assert isinstance(span, NonRecordingSpan) is not expected
        span.end()
    finished: tuple[ReadableSpan, ...] = exporter.get_finished_spans()
    # the SDK kept the id drawn for the decision: what was exported is what was started
    assert [s.context.trace_id for s in finished if s.context] == [s.get_span_context().trace_id for s in recorded]
    if ratio == 0.0:
        assert not recorded
    if ratio == 1.0:
        assert len(recorded) == 400


def test_spans_started_elsewhere_get_fresh_random_trace_ids() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider("t", "1", TelemetrySettings(sampling_ratio=1.0), exporter)
    tracer = provider.get_tracer("t")
    ids = {tracer.start_span("x").get_span_context().trace_id for _ in range(50)}
    assert len(ids) == 50
