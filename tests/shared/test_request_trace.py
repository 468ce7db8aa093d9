"""The request's trace, formatted once: what it reads from OpenTelemetry's SpanContext."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

from shared.telemetry.request_trace import bind_request_trace, current_request_trace, unbind_request_trace


def test_a_span_context_unpacks_in_the_order_the_request_trace_reads_it() -> None:
    state = TraceState([("vendor", "x")])
    context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    trace_id, span_id, is_remote, flags, trace_state, is_valid = context
    assert (trace_id, span_id, is_remote, flags, trace_state, is_valid) == (
        context.trace_id,
        context.span_id,
        context.is_remote,
        context.trace_flags,
        context.trace_state,
        context.is_valid,
    )


@pytest.mark.parametrize("sampled", [True, False])
def test_an_unsampled_trace_carries_its_traceparent_and_state_a_sampled_one_none(sampled: bool) -> None:
    state = TraceState([("vendor", "x")])
    context = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(int(sampled)), trace_state=state)
    token = bind_request_trace(context)
    try:
        bound = current_request_trace()
        assert bound is not None and bound.sampled is sampled
        assert bound.trace_id == f"{0xABC:032x}" and bound.span_id == f"{0xDEF:016x}"
        if sampled:
            assert bound.unsampled_headers == {}
        else:
            assert bound.unsampled_headers == {
                "traceparent": f"00-{0xABC:032x}-{0xDEF:016x}-00",
                "tracestate": "vendor=x",
            }
    finally:
        unbind_request_trace(token)


def test_an_invalid_context_binds_nothing() -> None:
    assert bind_request_trace(SpanContext(0, 0, is_remote=False)) is None
