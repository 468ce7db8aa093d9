"""OpenTelemetry tracing: one provider per process, parent-based ratio sampling, W3C
trace context, and an OTLP exporter when an endpoint is configured.

``RootSpans`` starts the server span of a request that arrives without a trace. It draws
the trace id and applies the ratio sampler's own rule to it first: an unsampled request
(19 in 20 by default) gets a non-recording span without the SDK's span machinery; a
sampled one is started by the SDK with that same trace id (the provider's id generator
hands it over), so the SDK's sampler agrees with the decision already made.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, Tracer

from shared.settings import TelemetrySettings

_chosen_trace_id: ContextVar[int] = ContextVar("bff_chosen_trace_id", default=0)
_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)


class ChosenTraceIds(RandomIdGenerator):
    """The SDK's random ids, except the trace id ``RootSpans`` already drew and sampled on."""

    def generate_trace_id(self) -> int:
        return _chosen_trace_id.get() or super().generate_trace_id()


class RootSpans:
    """Server spans of requests that carry no trace (see the module docstring)."""

    def __init__(self, tracer: Tracer, sampling_ratio: float) -> None:
        self._tracer = tracer
        self._bound = TraceIdRatioBased.get_bound_for_rate(sampling_ratio)

    def start(self, name: str) -> Span:
        trace_id = int.from_bytes(os.urandom(16), "big") or 1
        if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._bound:  # the ratio sampler's rule
            token = _chosen_trace_id.set(trace_id)
            try:
                return self._tracer.start_span(name, context=Context(), kind=SpanKind.SERVER)
            finally:
                _chosen_trace_id.reset(token)
        span_id = int.from_bytes(os.urandom(8), "big") or 1
        return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=_UNSAMPLED))


def build_tracer_provider(
    service: str, version: str, settings: TelemetrySettings, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider sampling ``settings.sampling_ratio`` of new traces (and every trace whose
    caller sampled it). An ``exporter`` passed in replaces the OTLP one and is called
    synchronously as each span ends (tests pass an in-memory one and read it at once)."""
    resource = Resource.create(
        {"service.name": service, "service.version": version, "deployment.track": settings.track}
    )
    provider = TracerProvider(
        resource=resource,
        sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
        id_generator=ChosenTraceIds(),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


__all__ = ["ChosenTraceIds", "RootSpans", "build_tracer_provider"]
