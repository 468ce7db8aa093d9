"""Stand-ins continue the caller's trace, as a real upstream instrumented with
OpenTelemetry would: a server span under the W3C ``traceparent`` the BFF sent.

Spans go to the process-wide tracer provider: a no-op unless one is installed (a test
installs an in-memory one to check the span tree across the HTTP hop)."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from shared.types import ASGIApp, Receive, Scope, Send


class TraceMiddleware:
    def __init__(self, app: ASGIApp, service: str, region: str) -> None:
        self.app = app
        self.service = service
        self.region = region
        self.tracer = trace.get_tracer("bff.standin")  # a proxy: follows a provider set later

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"traceparent", b"tracestate")
        }
        with self.tracer.start_as_current_span(
            f"{self.service} {scope['method']} {scope['path']}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"bff.standin": self.service, "bff.region": self.region},
        ):
            await self.app(scope, receive, send)
