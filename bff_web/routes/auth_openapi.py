"""The OpenAPI description of the browser sign-in routes (``bff_web.routes.auth``).

They redirect and set cookies, which the JSON ``Endpoint`` declarations behind
``shared.openapi`` do not describe, so they are written out here, by hand, in the same
conventions (problem+json errors, 400 and 500 on every operation). ``bff_web.app.openapi``
adds them when ``sessions.enabled`` (the default); docs/web-sessions.md tells the flow.
"""

from __future__ import annotations

from typing import Any

from shared.problems import PROBLEM_MEDIA_TYPE

_TAGS = ["sessions"]
_PROBLEM = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_STRING = {"type": "string"}
_COOKIE = {
    "name": "__Host-bff_session",
    "in": "cookie",
    "required": False,
    "description": "The session cookie (its name is `sessions.cookie_name`); without a live one: 401",
    "schema": _STRING,
}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "description": "The session's `csrf_token` (from GET /auth/session); a cookie-authenticated POST without it: 403",
    "schema": _STRING,
}


def _problems(*statuses: int, **described: str) -> dict[str, Any]:
    texts = {
        400: "Malformed or refused parameter (the problem's `field` names it)",
        401: "No live session, or the identity provider did not sign the user in",
        403: "X-CSRF-Token missing or wrong",
        500: "Unexpected error",
        502: "The identity provider answered with an error or garbage",
        503: "The session store or the identity provider is unavailable",
        504: "The identity provider timed out",
    }
    texts |= {int(status.removeprefix("s")): text for status, text in described.items()}
    return {
        str(status): {"description": texts[status], "content": _PROBLEM} for status in sorted({400, 500, *statuses})
    }


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

SESSION_PATHS: dict[str, Any] = {
    "/auth/login": {
        "get": {
            "operationId": "startSignIn",
            "summary": "Start signing in: redirects the browser to the identity provider",
            "tags": _TAGS,
            "parameters": [
                {
                    "name": "return_to",
                    "in": "query",
                    "required": False,
                    "description": "A path on this site to land on afterwards (default `sessions.post_login_path`)",
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
                **_problems(503, s400="`return_to` is not a path on this site"),
            },
        }
    },
    "/auth/callback": {
        "get": {
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
                    "name": "__Host-bff_session-login",
                    "in": "cookie",
                    "required": False,
                    "description": "Set by GET /auth/login in the same browser; without it: 400 (login CSRF)",
                    "schema": _STRING,
                }
            ],
            "responses": {
                "303": _redirect("To the sign-in's `return_to`", "The session cookie (HttpOnly, Secure, SameSite)"),
                **_problems(
                    401,
                    502,
                    503,
                    504,
                    s400="`code` or `state` missing, or a sign-in unknown, used, expired or started in another browser",
                ),
            },
        }
    },
    "/auth/session": {
        "get": {
            "operationId": "getBrowserSession",
            "summary": "The signed-in user and the session's CSRF token",
            "tags": _TAGS,
            "parameters": [_COOKIE],
            "responses": {
                "200": {
                    "description": "The session",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BrowserSession"}}},
                },
                **_problems(401, 503),
            },
        }
    },
    "/auth/logout": {
        "post": {
            "operationId": "endSession",
            "summary": "End this browser's session",
            "tags": _TAGS,
            "parameters": [_COOKIE, _CSRF],
            "responses": {"204": {"description": "Ended; the cookie is cleared"}, **_problems(401, 403, 503)},
        }
    },
    "/auth/logout-all": {
        "post": {
            "operationId": "endAllSessions",
            "summary": "End every session of the signed-in user, on every device",
            "tags": _TAGS,
            "parameters": [_COOKIE, _CSRF],
            "responses": {
                "200": {
                    "description": "How many sessions were ended; this browser's cookie is cleared",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionsEnded"}}},
                },
                **_problems(401, 403, 503),
            },
        }
    },
}

__all__ = ["SESSION_PATHS", "SESSION_SCHEMAS"]
