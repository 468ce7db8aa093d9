"""The upstream HTTP seam: one ``Transport`` protocol, implementations chosen by config."""

from shared.http.transport import Transport, UpstreamResponse, create_transport

__all__ = ["Transport", "UpstreamResponse", "create_transport"]
