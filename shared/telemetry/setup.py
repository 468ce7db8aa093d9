"""One process's telemetry, built once by its ``create_app`` and shared by the request
middleware, the upstream observer and the /metrics route."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.settings import TelemetrySettings
from shared.telemetry.metrics import Metrics
from shared.telemetry.observer import TelemetryObserver
from shared.telemetry.tracing import build_tracer_provider


@dataclass(slots=True)
class Telemetry:
    metrics: Metrics
    provider: TracerProvider
    observer: TelemetryObserver

    @classmethod
    def create(
        cls, process: str, version: str, settings: TelemetrySettings, exporter: SpanExporter | None = None
    ) -> Telemetry:
        metrics = Metrics(process, version, settings.track)
        provider = build_tracer_provider(process, version, settings, exporter)
        tracer = provider.get_tracer("bff")
        observer = TelemetryObserver(
            metrics, tracer, log_calls=settings.log_upstream_calls, slow_seconds=settings.slow_upstream_call_seconds
        )
        return cls(metrics, provider, observer)

    def metrics_route(self) -> Route:
        registry = self.metrics.registry

        async def metrics(request: Request) -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        return Route("/metrics", metrics, methods=["GET"])

    def shutdown(self) -> None:
        self.provider.shutdown()


__all__ = ["Telemetry"]
