"""The one exception tree of the BFF runtime.

Every error the runtime raises on purpose is a ``BFFError``. Library errors (aiohttp,
httpx, pydantic) are translated once, at the edge where they occur, with
``raise ... from exc``. HTTP handlers are registered on the base classes::

    BFFError
    ├── ConfigError                 invalid configuration; the process refuses to start
    ├── ClientError                 the caller's request is wrong (4xx to the client)
    │   ├── BadRequest              400: malformed parameter, header or body
    │   │   └── AmbiguousCredentials 400: the request names its caller more than once
    │   ├── Unauthenticated         401: no or invalid caller identity
    │   ├── Forbidden               403: the caller may not do this
    │   ├── NotFound                404: the resource does not exist
    │   ├── Conflict                409: the request conflicts with current state
    │   ├── ContentTooLarge         413: the request body exceeds server.max_body_bytes
    │   ├── UnsupportedMediaType    415: a request body that is not application/json
    │   └── UnprocessableContent    422: well-formed but semantically invalid
    └── UpstreamError               a call to an upstream service did not give a usable answer
        ├── UpstreamUnavailable     503: no region could be reached (connect refused, dropped)
        │   ├── BreakerOpen         503: every region's breaker is open; no call was made
        │   └── BulkheadFull        503: too many calls to this upstream in flight already
        ├── UpstreamTimeout         504: the attempt or the request deadline ran out
        ├── UpstreamStatusError     502: the upstream answered 5xx (or 408/429)
        ├── UpstreamBadResponse     502: the answer was not JSON or had the wrong shape
        └── UpstreamRejected        the upstream answered 4xx: an answer, not a failure;
                                    screen services translate it (e.g. 404 → NotFound)
    TransportError (internal)       raised by transports, translated by the upstream client
    ├── TransportConnectError
    ├── TransportTimeout
    └── TransportProtocolError

``UpstreamUnavailable``, ``UpstreamTimeout`` and ``UpstreamStatusError`` are *system
failures*: they fail over, are retried and count against a region's breaker.
``BreakerOpen`` and ``BulkheadFull`` are our own protection turning a call away: they
are never retried (retrying into an open breaker is what breakers exist to prevent).
"""

from __future__ import annotations

from collections.abc import Sequence


class BFFError(Exception):
    """Base of every error raised on purpose by the BFF runtime."""


class ConfigError(BFFError):
    """Configuration is invalid. ``problems`` lists ``(key path, reason)`` pairs."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {key}: {reason}" for key, reason in self.problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class ClientError(BFFError):
    """The caller's request cannot be served as sent. Rendered as problem+json."""

    status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class BadRequest(ClientError):
    status = 400
    type_slug = "bad-request"
    title = "Bad request"


class AmbiguousCredentials(BadRequest):
    """Two credentials (a repeated ``Authorization``, a bearer token beside a session
    cookie, ...): refused rather than choosing one, which would let either one win."""

    type_slug = "ambiguous-credentials"
    title = "Ambiguous credentials"


class Unauthenticated(ClientError):
    status = 401
    type_slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(ClientError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(ClientError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(ClientError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class ContentTooLarge(ClientError):
    status = 413
    type_slug = "content-too-large"
    title = "Content too large"


class UnsupportedMediaType(ClientError):
    status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class UnprocessableContent(ClientError):
    status = 422
    type_slug = "unprocessable-content"
    title = "Unprocessable content"


class UpstreamError(BFFError):
    """A call to an upstream did not produce a usable answer."""

    status = 502
    type_slug = "upstream-error"
    title = "Upstream error"
    #: System failures fail over to the next region; answers (4xx, bad shape) do not.
    is_system_failure = False

    def __init__(self, upstream: str, operation: str, reason: str, *, region: str | None = None) -> None:
        where = f"{upstream}.{operation}" + (f" in {region}" if region else "")
        super().__init__(f"{where}: {reason}")
        self.upstream = upstream
        self.operation = operation
        self.region = region
        self.reason = reason


class UpstreamUnavailable(UpstreamError):
    status = 503
    type_slug = "upstream-unavailable"
    title = "Upstream unavailable"
    is_system_failure = True


class BreakerOpen(UpstreamUnavailable):
    type_slug = "upstream-circuit-open"
    title = "Upstream cut off by its circuit breaker"
    is_system_failure = False


class BulkheadFull(UpstreamUnavailable):
    type_slug = "upstream-overloaded"
    title = "Too many concurrent calls to an upstream"
    is_system_failure = False


class UpstreamTimeout(UpstreamError):
    status = 504
    type_slug = "upstream-timeout"
    title = "Upstream timed out"
    is_system_failure = True


class UpstreamStatusError(UpstreamError):
    status = 502
    type_slug = "upstream-failed"
    title = "Upstream failed"
    is_system_failure = True

    def __init__(
        self,
        upstream: str,
        operation: str,
        upstream_status: int,
        *,
        region: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(upstream, operation, f"answered HTTP {upstream_status}", region=region)
        self.upstream_status = upstream_status
        self.retry_after = retry_after


class UpstreamBadResponse(UpstreamError):
    status = 502
    type_slug = "upstream-bad-response"
    title = "Upstream answered garbage"


class UpstreamRejected(UpstreamError):
    """The upstream answered 4xx. ``code`` is its machine-readable error code, if any."""

    def __init__(
        self,
        upstream: str,
        operation: str,
        upstream_status: int,
        code: str | None,
        *,
        region: str | None = None,
    ) -> None:
        super().__init__(upstream, operation, f"rejected with HTTP {upstream_status} ({code})", region=region)
        self.upstream_status = upstream_status
        self.code = code


__all__ = [
    "AmbiguousCredentials",
    "BFFError",
    "BadRequest",
    "BreakerOpen",
    "BulkheadFull",
    "ClientError",
    "ConfigError",
    "Conflict",
    "ContentTooLarge",
    "Forbidden",
    "NotFound",
    "Unauthenticated",
    "UnprocessableContent",
    "UnsupportedMediaType",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class TransportError(BFFError):
    """Internal: the transport could not complete an HTTP exchange.

    Raised by ``shared.http`` transports only; the upstream client translates it into
    ``UpstreamUnavailable`` or ``UpstreamTimeout`` naming the upstream and region.
    """


class TransportConnectError(TransportError):
    """No connection could be established (refused, unreachable, DNS)."""


class TransportTimeout(TransportError):
    """The connect or the whole-attempt timeout ran out."""


class TransportProtocolError(TransportError):
    """The connection broke or the peer spoke broken HTTP (dropped mid-response)."""


__all__ += ["TransportConnectError", "TransportError", "TransportProtocolError", "TransportTimeout"]
