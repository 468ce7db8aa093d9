"""Telemetry: Prometheus metrics, OpenTelemetry traces and JSON logs.

Each attaches at one seam: the ``TelemetryMiddleware`` for inbound requests, the
``UpstreamObserver`` hook of the upstream client for every attempt, and a collector that
reads breaker, cache, bulkhead and budget state when Prometheus scrapes (nothing on the
hot path for those).
"""

from shared.telemetry.metrics import Metrics
from shared.telemetry.observer import TelemetryObserver
from shared.telemetry.setup import Telemetry
from shared.telemetry.tracing import build_tracer_provider

__all__ = ["Metrics", "Telemetry", "TelemetryObserver", "build_tracer_provider"]
