"""Per inbound request: a server span (continuing the caller's trace), RED metrics by
route template and client cohort (platform, version bucket), the in-flight gauge, and one
JSON log line."""

from __future__ import annotations

import time

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from shared.client_identity import ANONYMOUS, REPEATED
from shared.telemetry.logs import HotLog, json_members
from shared.telemetry.metrics import Metrics
from shared.telemetry.request_trace import bind_request_trace, unbind_request_trace
from shared.telemetry.tallies import HistogramChild
from shared.telemetry.tracing import RootSpans
from shared.types import ASGIApp, Message, Receive, Scope, Send

log = HotLog("bff.request")
#: Probes and scrapes are counted but neither traced nor logged (they would drown the rest).
QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, tracer: Tracer, sampling_ratio: float = 1.0) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer
        self.roots = RootSpans(tracer, sampling_ratio)
        self.process = metrics.process
        self.in_flight = metrics.in_flight
        self.cohorts = metrics.cohorts
        self._durations: dict[tuple[str, str, str, str], HistogramChild] = {}  # route, method, platform, version
        self._log_members: dict[tuple[str, str], str] = {}  # route, method: as JSON, once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        quiet = scope["path"] in QUIET_PATHS
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.in_flight
        in_flight.value += 1
        span = None
        token = None
        bound = None
        cohort = ANONYMOUS
        if not quiet:
            # The one header scan: trace context and the client's cohort headers.
            carrier = None
            platform = version = None
            for k, v in scope["headers"]:
                if k == b"x-client-platform":
                    platform = v if platform is None else REPEATED
                elif k == b"x-app-version":
                    version = v if version is None else REPEATED
                elif k == b"traceparent" or k == b"tracestate":
                    if carrier is None:
                        carrier = {}
                    carrier[k.decode("latin-1")] = v.decode("latin-1")
            if platform is not None or version is not None:
                cohort = self.cohorts.label(platform, version)
            if carrier:
                parent = propagate.extract(carrier)
                span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
            else:  # most requests start a trace
                parent = Context()
                span = self.roots.start(method)
            token = context.attach(trace.set_span_in_context(span, parent))
            bound = bind_request_trace(span.get_span_context())
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            duration = time.perf_counter() - started
            in_flight.value -= 1
            # The route template, never the raw path (it may hold PII); inlined, as is the
            # counting below: this runs for every request, probes included.
            route = getattr(scope.get("route"), "path", None)
            if not isinstance(route, str):
                route = "unmatched"
            self.metrics.requests.inc((self.process, route, method, str(status), *cohort))
            key = (route, method, *cohort)
            durations = self._durations.get(key)
            if durations is None:
                durations = self._durations[key] = self.metrics.request_duration.child((self.process, *key))
            durations.observe(duration)
            if span is not None:
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                members = self._log_members.get((route, method))
                if members is None:
                    members = self._log_members[(route, method)] = json_members({"method": method, "route": route})
                log.info("request", {"status": status, "duration_ms": round(duration * 1000, 2)}, fixed=members)
                span.end()
            if bound is not None:
                unbind_request_trace(bound)
            if token is not None:
                context.detach(token)


__all__ = ["QUIET_PATHS", "TelemetryMiddleware"]
