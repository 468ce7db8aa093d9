"""The BFF runtime shared by every process: settings, the upstream client seam,
fan-out, errors, responses, health and middleware. Knows nothing of any upstream or
screen. Import from here; submodules are implementation detail."""

from shared.app import build_app
from shared.deadline import Deadline
from shared.endpoints import Endpoint, Param
from shared.errors import (
    BadRequest,
    BFFError,
    BreakerOpen,
    BulkheadFull,
    ClientError,
    ConfigError,
    Conflict,
    ContentTooLarge,
    Forbidden,
    NotFound,
    Unauthenticated,
    UnprocessableContent,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.fanout import FanOut, Section
from shared.health import Readiness
from shared.http import Transport, UpstreamResponse, create_transport
from shared.openapi import Enforcement, build_openapi
from shared.operations import CallExample, Operation, UpstreamSpec
from shared.pii import PII, mask_email, mask_phone, mask_text, pii_fields
from shared.policy import BreakerPolicy, BulkheadPolicy, CachePolicy, CallPolicy, FrozenModel, HedgePolicy, RetryPolicy
from shared.process import ProcessSpec
from shared.request_context import current_request_id, note_stale, stale_data
from shared.responses import JSONResponse, json_with_etag, render_json
from shared.settings import ProcessSettings, load_settings
from shared.upstream_client import IDEMPOTENCY_HEADER, Region, UpstreamClient, UpstreamConfig
from shared.upstream_set import UpstreamSet, build_upstream_set

__all__ = [
    "IDEMPOTENCY_HEADER",
    "PII",
    "BFFError",
    "BadRequest",
    "BreakerOpen",
    "BreakerPolicy",
    "BulkheadFull",
    "BulkheadPolicy",
    "CachePolicy",
    "CallExample",
    "CallPolicy",
    "ClientError",
    "ConfigError",
    "Conflict",
    "ContentTooLarge",
    "Deadline",
    "Endpoint",
    "Enforcement",
    "FanOut",
    "Forbidden",
    "FrozenModel",
    "HedgePolicy",
    "JSONResponse",
    "NotFound",
    "Operation",
    "Param",
    "ProcessSettings",
    "ProcessSpec",
    "Readiness",
    "Region",
    "RetryPolicy",
    "Section",
    "Transport",
    "Unauthenticated",
    "UnprocessableContent",
    "UpstreamBadResponse",
    "UpstreamClient",
    "UpstreamConfig",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamResponse",
    "UpstreamSet",
    "UpstreamSpec",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "build_app",
    "build_openapi",
    "build_upstream_set",
    "create_transport",
    "current_request_id",
    "json_with_etag",
    "load_settings",
    "mask_email",
    "mask_phone",
    "mask_text",
    "note_stale",
    "pii_fields",
    "render_json",
    "stale_data",
]
