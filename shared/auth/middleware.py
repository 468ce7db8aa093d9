"""Establishing the caller before any handler runs.

With a bearer token, it must verify (else 401 problem+json with ``WWW-Authenticate``).
In ``trusted_header`` mode ``X-User-Id`` is taken as is. Where browser sessions are on
(bff_web), a session cookie names the caller instead: it must name a live session (else
401), and a state-changing request (POST, PUT, PATCH, DELETE) must also carry the
session's CSRF token in ``X-CSRF-Token`` (else 403): a cookie alone proves nothing about
which page sent the request. A dead session's 401 also clears the cookie, and the sign-in
paths do not read it at all, so a browser holding an ended session can always sign in
again. Without any of these the request goes on anonymous, and endpoints that need a
caller refuse it (``shared.identity.caller_id``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from shared.auth.sessions import SessionStore
from shared.auth.verifier import TokenVerifier
from shared.errors import ClientError, Forbidden, Unauthenticated, UpstreamError
from shared.identity import USER_KEY, parse_user_id
from shared.problems import problem, upstream_error
from shared.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/admin/"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The request's session, for the sign-in routes: ``(session id, Session)``.
SESSION_KEY = "bff.session"
#: The ``field`` of a problem about the session cookie.
COOKIE_FIELD = "Cookie"


@dataclass(frozen=True, slots=True)
class SessionCookies:
    """Where sessions are kept, which cookie names them (and its attributes, which a
    browser needs repeated to accept the cookie's removal), and the sign-in paths, where
    the cookie is not read: signing in again must work with an ended session's cookie."""

    store: SessionStore
    cookie_name: str
    secure: bool = True
    same_site: Literal["lax", "strict"] = "lax"
    sign_in_paths: frozenset[str] = frozenset()

    def clear(self, response: Response) -> None:
        """Make the browser drop the session cookie."""
        response.delete_cookie(self.cookie_name, path="/", secure=self.secure, httponly=True, samesite=self.same_site)


class AuthMiddleware:
    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None, sessions: SessionCookies | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The admin API's bearer is admin.token, not a user's JWT; shared.admin checks it.
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            user = await self._user(scope)
        except ClientError as exc:
            dead_session = exc.status == 401 and exc.field == COOKIE_FIELD
            bearer_refused = exc.status == 401 and not dead_session
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if bearer_refused else None
            response = problem(
                exc.status, exc.type_slug, exc.title, exc.detail, extra={"field": exc.field}, headers=headers
            )
            if dead_session and self.sessions is not None:
                self.sessions.clear(response)
            await response(scope, receive, send)
            return
        except UpstreamError as exc:  # the session store failed: 503, as from a handler (not a 500)
            await (await upstream_error(Request(scope, receive), exc))(scope, receive, send)
            return
        if user is not None:
            scope[USER_KEY] = user
        await self.app(scope, receive, send)

    async def _user(self, scope: Scope) -> int | None:
        headers = dict(scope["headers"])
        if self.verifier is None:  # trusted_header mode
            raw = headers.get(b"x-user-id")
            if raw is not None:
                return parse_user_id(raw.decode("latin-1"))
        else:
            authorization = headers.get(b"authorization")
            if authorization is not None:
                scheme, _, token = authorization.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise Unauthenticated("use 'Authorization: Bearer <token>'", field="Authorization")
                return await self.verifier.user_id(token.strip())
        if self.sessions is not None and scope["path"] not in self.sessions.sign_in_paths:
            return await self._session_user(scope, headers)
        return None

    async def _session_user(self, scope: Scope, headers: dict[bytes, bytes]) -> int | None:
        assert self.sessions is not None
        session_id = cookie_value(headers.get(b"cookie"), self.sessions.cookie_name)
        if session_id is None:
            return None
        store = self.sessions.store
        session = await store.get(session_id)
        if session is None:
            raise Unauthenticated("the session has ended (expired or logged out): sign in again", field=COOKIE_FIELD)
        if scope["method"] not in SAFE_METHODS:
            sent = headers.get(b"x-csrf-token", b"")
            if not hmac.compare_digest(sent, session.csrf_token.encode()):
                raise Forbidden(
                    "a request authenticated by the session cookie must send the session's CSRF token"
                    " (GET /auth/session) in X-CSRF-Token",
                    field="X-CSRF-Token",
                )
        await store.touch(session_id, session)
        scope[SESSION_KEY] = (session_id, session)
        return session.user_id


def cookie_value(header: bytes | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, if it is there."""
    if not header:
        return None
    for pair in header.decode("latin-1").split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name and value:
            return value
    return None


__all__ = ["COOKIE_FIELD", "SESSION_KEY", "USER_KEY", "AuthMiddleware", "SessionCookies", "cookie_value"]
