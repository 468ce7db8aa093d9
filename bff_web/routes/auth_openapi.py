"""The OpenAPI description of the browser sign-in routes (``bff_web.routes.auth``).

They redirect and set cookies, which the JSON ``Endpoint`` declarations behind
``shared.openapi`` do not describe, so they are written out here, by hand; their
security and the statuses of the middleware in front of them (400, 401, 429, ...) come
from the same ``describe_operation`` as every other operation's. ``bff_web.app.openapi``
adds them when ``sessions.enabled`` (the default); docs/web-sessions.md tells the flow.
"""

from __future__ import annotations

from typing import Any

from shared.openapi import Access, Enforcement, describe_operation

_TAGS = ["sessions"]
_STRING = {"type": "string"}


def _problems(**described: str) -> dict[str, Any]:
    """Error statuses of the handler itself (``s401="..."``: 401), described for it."""
    return {status.removeprefix("s"): {"description": text} for status, text in described.items()}


def _redirect(description: str, cookie: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Location": {"required": True, "schema": _STRING},
            "Set-Cookie": {"description": cookie, "schema": _STRING},
            "Cache-Control": {"description": "`no-store`", "schema": _STRING},
        },
    }


SESSION_SCHEMAS: dict[str, Any] = {
    "BrowserSession": {
        "type": "object",
        "title": "BrowserSession",
        "required": ["user_id", "csrf_token", "expires_at"],
        "properties": {
            "user_id": {"type": "integer"},
            "csrf_token": {"type": "string", "description": "Send it as X-CSRF-Token on POST, PUT, PATCH, DELETE"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "SessionsEnded": {
        "type": "object",
        "title": "SessionsEnded",
        "required": ["sessions_ended"],
        "properties": {"sessions_ended": {"type": "integer", "minimum": 0}},
    },
}

#: Stands for the login cookie's name, ``<sessions.cookie_name>-login`` (``session_paths``).
_LOGIN_COOKIE = "{session_cookie}-login"
_NO_SESSION = "No live session (no session cookie, or an ended one), or a bearer token that does not verify"
_SESSION_STORE = "The session store is unavailable"

#: ``(path, method, who may call it, operation)``; ``describe_operation`` adds the rest.
_OPERATIONS: list[tuple[str, str, Access, dict[str, Any]]] = [
    (
        "/auth/login",
        "get",
        "sign_in",
        {
            "operationId": "startSignIn",
            "summary": "Start signing in: redirects the browser to the identity provider",
            "tags": _TAGS,
            "parameters": [
                {
                    "name": "return_to",
                    "in": "query",
                    "required": False,
                    "description": (
                        "Where to land afterwards: a path on this site, or a URL on one of the web app "
                        "origins in `server.cors_origins` (default `sessions.post_login_path`)"
                    ),
                    "schema": _STRING,
                },
                {
                    "name": "login_hint",
                    "in": "query",
                    "required": False,
                    "description": "Passed on to the identity provider",
                    "schema": _STRING,
                },
            ],
            "responses": {
                "302": _redirect(
                    "To the provider's authorization endpoint (code flow with PKCE)",
                    "The short-lived login cookie that ties the callback to this browser",
                ),
                **_problems(
                    s400="`return_to` is neither a path on this site nor a URL on a listed web app origin",
                    s503=_SESSION_STORE,
                ),
            },
        },
    ),
    (
        "/auth/callback",
        "get",
        "sign_in",
        {
            "operationId": "finishSignIn",
            "summary": "Where the identity provider sends the browser back: starts the session",
            "tags": _TAGS,
            "parameters": [
                {"name": name, "in": "query", "required": False, "description": text, "schema": _STRING}
                for name, text in (
                    ("code", "The authorization code"),
                    ("state", "The sign-in's state, as sent to the provider"),
                    ("error", "The provider's error, when it did not sign the user in"),
                )
            ]
            + [
                {
                    "name": _LOGIN_COOKIE,
                    "in": "cookie",
                    "required": False,
                    "description": "Set by GET /auth/login in the same browser; without it: 400 (login CSRF)",
                    "schema": _STRING,
                }
            ],
            "responses": {
                "303": _redirect("To the sign-in's `return_to`", "The session cookie (HttpOnly, Secure, SameSite)"),
                **_problems(
                    s400="`code` or `state` missing, or a sign-in unknown, used, expired or started in another browser",
                    s401="The identity provider did not sign the user in, or refused the code",
                    s502="The identity provider answered with an error or garbage",
                    s503="The session store or the identity provider is unavailable",
                    s504="The identity provider timed out",
                ),
            },
        },
    ),
    (
        "/auth/session",
        "get",
        "session",
        {
            "operationId": "getBrowserSession",
            "summary": "The signed-in user and the session's CSRF token",
            "tags": _TAGS,
            "parameters": [],
            "responses": {
                "200": {
                    "description": "The session",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BrowserSession"}}},
                },
                **_problems(s401=_NO_SESSION, s503=_SESSION_STORE),
            },
        },
    ),
    (
        "/auth/logout",
        "post",
        "session",
        {
            "operationId": "endSession",
            "summary": "End this browser's session",
            "tags": _TAGS,
            "parameters": [],
            "responses": {
                "204": {"description": "Ended; the cookie is cleared"},
                **_problems(s401=_NO_SESSION, s503=_SESSION_STORE),
            },
        },
    ),
    (
        "/auth/logout-all",
        "post",
        "session",
        {
            "operationId": "endAllSessions",
            "summary": "End every session of the signed-in user, on every device",
            "tags": _TAGS,
            "parameters": [],
            "responses": {
                "200": {
                    "description": "How many sessions were ended; this browser's cookie is cleared",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionsEnded"}}},
                },
                **_problems(s401=_NO_SESSION, s503=_SESSION_STORE),
            },
        },
    ),
]


def session_paths(enforcement: Enforcement) -> dict[str, Any]:
    """The sign-in routes' paths, described as a process with ``enforcement`` serves them."""
    paths: dict[str, Any] = {}
    for path, method, access, written in _OPERATIONS:
        operation = {**written, "parameters": [_named(p, enforcement) for p in written["parameters"]]}
        described = describe_operation(operation, method=method.upper(), access=access, enforcement=enforcement)
        paths.setdefault(path, {})[method] = described
    return paths


def _named(parameter: dict[str, Any], enforcement: Enforcement) -> dict[str, Any]:
    if parameter["name"] != _LOGIN_COOKIE:
        return parameter
    return {**parameter, "name": _LOGIN_COOKIE.format(session_cookie=enforcement.session_cookie)}


__all__ = ["SESSION_SCHEMAS", "session_paths"]
