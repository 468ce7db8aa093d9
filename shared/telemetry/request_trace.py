"""The trace of the request being served, worked out once per request rather than on
every log line and upstream attempt: its span's ids in hex, the JSON members every log
line of the request carries, and, when the trace is not sampled, the W3C headers that
still carry it to upstreams (so their logs name the trace).

The telemetry middleware binds it when the request's server span starts and unbinds it
when the request ends, as it attaches and detaches the OpenTelemetry context; tasks the
request starts (fan-out sections, revalidation, DataLoader batches) inherit both."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.trace import SpanContext

from shared.request_context import current_request_id


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field
class RequestTrace:
    context: SpanContext
    trace_id: str
    span_id: str
    #: ``,"request_id":…,"trace_id":…,"span_id":…``: what each log line of the request adds.
    log_members: str
    #: ``traceparent`` (and ``tracestate``) naming this span as the caller, unsampled
    #: (the sampled flag clear); empty when the trace is sampled (each attempt's client span is then
    #: the caller, see ``shared.telemetry.observer``).
    unsampled_headers: Mapping[str, str]
    sampled: bool


_current: ContextVar[RequestTrace | None] = ContextVar("request_trace", default=None)


def bind_request_trace(context: SpanContext) -> Token[RequestTrace | None] | None:
    """Make ``context`` (the server span's) the trace of the request being served; call it
    before the request starts tasks, so they inherit it, and hand the token back to
    ``unbind_request_trace`` when the request ends. An invalid context (the SDK switched
    off) binds nothing: no all-zero ids in log lines or ``traceparent``."""
    if not context[5]:  # is_valid (see _trace on reading the tuple)
        return None
    return _current.set(_trace(context))


def unbind_request_trace(token: Token[RequestTrace | None] | None) -> None:
    """Undo ``bind_request_trace``: the request has ended."""
    if token is not None:
        _current.reset(token)


def current_request_trace() -> RequestTrace | None:
    """The trace bound for the request being served, if any."""
    return _current.get()


def trace_of(context: SpanContext) -> RequestTrace:
    """``context`` formatted: the bound one when it is the request's span, else made now."""
    bound = _current.get()
    if bound is not None and bound.context is context:
        return bound
    return _trace(context)


def _trace(context: SpanContext) -> RequestTrace:
    # A SpanContext is a tuple; unpacked, its fields cost no property call each (this runs
    # for every request). tests/shared/test_request_trace.py pins the order.
    trace_number, span_number, _, flags, trace_state, _ = context
    trace_id, span_id = format(trace_number, "032x"), format(span_number, "016x")
    request_id = current_request_id()
    ids: dict[str, Any] = {"request_id": request_id} if request_id else {}
    ids |= {"trace_id": trace_id, "span_id": span_id}
    headers: dict[str, str] = {}
    sampled = bool(flags & 1)
    if not sampled:
        headers["traceparent"] = f"00-{trace_id}-{span_id}-{int(flags):02x}"  # as the SDK's propagator
        if trace_state:
            headers["tracestate"] = trace_state.to_header()
    # Ids are hex and request ids are checked at the edge: nothing here needs redacting.
    return RequestTrace(context, trace_id, span_id, "," + orjson.dumps(ids).decode()[1:-1], headers, sampled)


__all__ = ["RequestTrace", "bind_request_trace", "current_request_trace", "trace_of", "unbind_request_trace"]
