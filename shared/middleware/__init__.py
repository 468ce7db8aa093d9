"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks context variables and costs throughput)."""

from shared.middleware.request_id import RequestIdMiddleware, current_request_id, note_stale, stale_data

__all__ = ["RequestIdMiddleware", "current_request_id", "note_stale", "stale_data"]
