"""OpenAPI 3.1 documents built from ``Endpoint`` declarations, pydantic models and what
the process enforces before any handler runs.

A document describes the process as configured, ``Enforcement.of(settings)``: the
credentials it accepts (``securitySchemes`` and each operation's ``security``) and every
status its middleware can answer besides the handler's own. The committed snapshots in
docs/api are the production-mode documents (the default settings: ``jwt``, rate limited).

====================  ==========================================================
credential            accepted
====================  ==========================================================
``bearerAuth``        ``auth.mode: jwt``: ``Authorization: Bearer <JWT>``
``userId``            ``auth.mode: trusted_header``: ``X-User-Id``, believed as is
``sessionCookie``     bff_web with sessions on: the browser session cookie, plus
                      ``csrfToken`` (``X-CSRF-Token``) on POST, PUT, PATCH, DELETE
====================  ==========================================================

Statuses added to an operation by what runs in front of it:

- 400 every operation (a malformed parameter, header or body; an ``Authorization`` sent twice);
- 401, with ``WWW-Authenticate`` in jwt mode: an operation that needs a caller, and in jwt
  mode every operation (a bearer token that is sent is verified, on public ones too), and
  every one that reads the session cookie (an ended session);
- 403 a state-changing operation that accepts the session cookie (no CSRF token);
- 413 and 415 an operation with a request body (too large; not ``application/json``);
- 429, with ``Retry-After``, every operation while rate limiting is on;
- 431 and 500 every operation; 503 every one that reads the session cookie (store down).

The breaking-change check against the committed snapshot is tooling, not serving:
``shared.cli.openapi_diff``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.client_identity import openapi_parameters
from shared.endpoints import Endpoint, Param
from shared.identity import USER_ID_MAX
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.settings import ProcessSettings

#: Who may call an operation. ``caller``: the caller's identity is needed (401 without);
#: ``anyone``: no credentials needed, those sent are still checked; ``session``: the
#: browser session cookie itself is needed; ``sign_in``: no credentials needed and the
#: session cookie is not read (bff_web's sign-in routes).
Access = Literal["caller", "anyone", "session", "sign_in"]

_REF = "#/components/schemas/{model}"
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "field": {"type": "string"},
    },
}
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}}
_ERROR_TEXT = {
    304: "Not modified (If-None-Match matched the ETag)",
    400: "Malformed parameter, header or body, or ambiguous credentials (Authorization sent twice)",
    401: "Caller identity missing or invalid",
    403: "A request authenticated by the session cookie without the session's X-CSRF-Token",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large (server.max_body_bytes)",
    415: "Request body is not application/json",
    422: "Request is well-formed but cannot be processed",
    429: "Too many requests: wait Retry-After seconds",
    431: "Request headers too large (server.max_header_bytes)",
    500: "Unexpected error",
    502: "An upstream answered with an error or garbage",
    503: "A required upstream (or the session store) is unavailable",
    504: "A required upstream timed out",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER_SCHEME = "bearerAuth"
USER_ID_SCHEME = "userId"
SESSION_SCHEME = "sessionCookie"
CSRF_SCHEME = "csrfToken"


@dataclass(frozen=True, slots=True)
class Enforcement:
    """What a process's middleware enforces on every request, as its document says it."""

    auth_mode: Literal["jwt", "trusted_header"] = "jwt"
    rate_limited: bool = True
    #: The browser session cookie's name, where sessions are on (bff_web).
    session_cookie: str | None = None

    @classmethod
    def of(cls, settings: ProcessSettings, *, session_cookie: str | None = None) -> Enforcement:
        return cls(settings.auth.mode, settings.rate_limit.enabled, session_cookie)

    def security_schemes(self) -> dict[str, Any]:
        schemes: dict[str, Any] = {}
        if self.auth_mode == "jwt":
            schemes[BEARER_SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token of the identity provider, verified against its JWKS "
                "(signature, issuer, audience, expiry). A token that is sent is verified on every "
                "operation, public ones too: an invalid one is answered 401.",
            }
        else:
            schemes[USER_ID_SCHEME] = {
                "type": "apiKey",
                "in": "header",
                "name": "X-User-Id",
                "description": f"auth.mode trusted_header (behind a trusted proxy only): the caller's user "
                f"id, an integer from 1 to {USER_ID_MAX}, believed as is; any other value is answered 400.",
            }
        if self.session_cookie is not None:
            schemes[SESSION_SCHEME] = {
                "type": "apiKey",
                "in": "cookie",
                "name": self.session_cookie,
                "description": "The browser session (GET /auth/login signs in); an ended one is answered 401.",
            }
            schemes[CSRF_SCHEME] = {
                "type": "apiKey",
                "in": "header",
                "name": "X-CSRF-Token",
                "description": "The session's csrf_token (GET /auth/session), required with the session "
                "cookie on POST, PUT, PATCH and DELETE; without it: 403.",
            }
        return schemes

    def security(self, access: Access, method: str) -> list[dict[str, list[str]]]:
        """The operation's security requirements (any one of them suffices)."""
        identity = BEARER_SCHEME if self.auth_mode == "jwt" else USER_ID_SCHEME
        session: list[dict[str, list[str]]] = []
        if self.session_cookie is not None and access != "sign_in":
            cookie: dict[str, list[str]] = {SESSION_SCHEME: []}
            if method not in _SAFE_METHODS:
                cookie[CSRF_SCHEME] = []
            session = [cookie]
        if access == "session":
            return session
        optional: list[dict[str, list[str]]] = [{}] if access in ("anyone", "sign_in") else []
        return [*optional, {identity: []}, *session]

    def statuses(self, access: Access, method: str, *, has_body: bool) -> set[int]:
        """The error statuses the middleware in front of the operation can answer."""
        reads_session = self.session_cookie is not None and access != "sign_in"
        statuses = {400, 431, 500}
        if self.auth_mode == "jwt" or access in ("caller", "session") or reads_session:
            statuses.add(401)
        if reads_session:
            statuses.add(503)
            if method not in _SAFE_METHODS:
                statuses.add(403)
        if has_body:
            statuses |= {413, 415}
        if self.rate_limited:
            statuses.add(429)
        return statuses

    def error_response(self, status: int, description: str | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {"description": description or _ERROR_TEXT.get(status, "Error")}
        if status == 401 and self.auth_mode == "jwt":
            response["headers"] = {
                "WWW-Authenticate": {
                    "required": True,
                    "description": 'The Bearer challenge (RFC 6750), e.g. `Bearer error="invalid_token"`',
                    "schema": {"type": "string"},
                }
            }
        elif status == 429:
            response["headers"] = {
                "Retry-After": {
                    "required": True,
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        response["content"] = _PROBLEM_CONTENT
        return response


#: What the documents of a process in production mode (the default settings) say.
PRODUCTION = Enforcement()


def describe_operation(
    operation: Mapping[str, Any],
    *,
    method: str,
    access: Access,
    enforcement: Enforcement,
    errors: Iterable[int] = (),
) -> dict[str, Any]:
    """``operation`` (its ``responses`` holding at least the successful ones) with its
    ``security`` and every error status it can answer: ``errors`` (the handler's own)
    and the middleware's. A response the operation describes itself is kept as written."""
    has_body = "requestBody" in operation
    own: dict[str, Any] = dict(operation["responses"])
    statuses = {*errors, *enforcement.statuses(access, method, has_body=has_body)}
    responses = {status: response for status, response in own.items() if int(status) < 400}
    for status in sorted(statuses | {int(status) for status in own if int(status) >= 400}):
        written = own.get(str(status))
        described = enforcement.error_response(status, written["description"] if written else None)
        responses[str(status)] = described | (written or {})
    return {**operation, "security": enforcement.security(access, method), "responses": responses}


def build_openapi(
    title: str,
    version: str,
    description: str,
    endpoints: Sequence[Endpoint],
    enforcement: Enforcement = PRODUCTION,
) -> dict[str, Any]:
    models = _models(endpoints)
    _, defs = models_json_schema([(m, "serialization") for m in models], ref_template=_REF)
    schemas = dict(sorted(defs.get("$defs", {}).items()))
    schemas["Problem"] = _PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, enforcement)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": enforcement.security_schemes()},
    }


def _models(endpoints: Iterable[Endpoint]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for endpoint in endpoints:
        for model in (endpoint.response, endpoint.body):
            if model is not None:
                seen[model.__name__] = model
    return list(seen.values())


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint, enforcement: Enforcement) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": endpoint.summary,
            "content": {"application/json": {"schema": _ref(endpoint.response)}},
        }
    }
    if endpoint.method == "GET":
        responses["304"] = {"description": _ERROR_TEXT[304]}
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        # Every operation also takes the app's identity headers (optional, never refused).
        "parameters": [*(_parameter(p) for p in endpoint.params), *openapi_parameters()],
        "responses": responses,
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return describe_operation(
        operation, method=endpoint.method, access=endpoint.access, enforcement=enforcement, errors=endpoint.errors
    )


def _parameter(param: Param) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": param.name,
        "in": param.location,
        "required": param.required or param.location == "path",
        "description": param.description,
        "schema": param.schema,
    }
    if param.allow_empty:
        described["allowEmptyValue"] = True
    return described


__all__ = [
    "BEARER_SCHEME",
    "CSRF_SCHEME",
    "PRODUCTION",
    "SESSION_SCHEME",
    "USER_ID_SCHEME",
    "Access",
    "Enforcement",
    "build_openapi",
    "describe_operation",
]
