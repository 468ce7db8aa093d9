"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks context variables and costs throughput)."""

from shared.middleware.request_id import RequestIdMiddleware

__all__ = ["RequestIdMiddleware"]
