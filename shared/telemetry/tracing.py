"""OpenTelemetry tracing: one provider per process, parent-based ratio sampling, W3C
trace context, and an OTLP exporter when an endpoint is configured."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from shared.settings import TelemetrySettings


def build_tracer_provider(
    service: str, version: str, settings: TelemetrySettings, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider sampling ``settings.sampling_ratio`` of new traces (and every trace whose
    caller sampled it). An ``exporter`` passed in replaces the OTLP one and is called
    synchronously as each span ends (tests pass an in-memory one and read it at once)."""
    resource = Resource.create(
        {"service.name": service, "service.version": version, "deployment.track": settings.track}
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return provider


__all__ = ["build_tracer_provider"]
