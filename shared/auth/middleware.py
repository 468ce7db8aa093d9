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

A request that names its caller more than once is a 400 (``ambiguous-credentials``),
never a choice: a repeated ``Authorization``, ``X-User-Id`` or ``X-CSRF-Token``, more
than one credential in one ``Authorization``, a session cookie sent with two values, or a
bearer token (``X-User-Id``) *and* a session cookie, whoever they name
(``shared.auth.credentials`` has the rules). In jwt mode every 401 carries
``WWW-Authenticate: Bearer realm="bff"``, with ``error="invalid_token"`` and the reason
when a token was presented and refused (RFC 6750 §3); the admin API's carry
``realm="bff-admin"``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from shared.auth.credentials import (
    AUTHORIZATION,
    BEARER_CHALLENGE,
    REALM,
    USER_HEADER,
    bearer_token,
    challenge,
    read_credentials,
    refuse_repeated,
    session_id,
    two_ways,
)
from shared.auth.sessions import SessionStore
from shared.auth.verifier import TokenVerifier
from shared.errors import AmbiguousCredentials, ClientError, Forbidden, Unauthenticated, UpstreamError
from shared.identity import CHALLENGE_KEY, USER_KEY, parse_user_id
from shared.problems import problem, upstream_error
from shared.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/admin/"
ADMIN_REALM = "bff-admin"
ADMIN_CHALLENGE = challenge(realm=ADMIN_REALM)


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
        self._credential_header = USER_HEADER if verifier is None else AUTHORIZATION

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if scope["path"].startswith(ADMIN_PREFIX):
                # The admin API's bearer is admin.token, not a user's JWT; shared.admin checks
                # it, and reads one Authorization: a repeat must not let either one win.
                scope[CHALLENGE_KEY] = ADMIN_CHALLENGE
                refuse_repeated(scope["headers"], AUTHORIZATION)
                user = None
            else:
                if self.verifier is not None:
                    scope[CHALLENGE_KEY] = BEARER_CHALLENGE
                user = await self._user(scope)
        except ClientError as exc:
            await self._refuse(exc, scope, receive, send)
            return
        except UpstreamError as exc:  # the session store failed: 503, as from a handler (not a 500)
            await (await upstream_error(Request(scope, receive), exc))(scope, receive, send)
            return
        if user is not None:
            scope[USER_KEY] = user
        await self.app(scope, receive, send)

    async def _refuse(self, exc: ClientError, scope: Scope, receive: Receive, send: Send) -> None:
        dead_session = exc.status == 401 and exc.field == COOKIE_FIELD
        headers = None
        if CHALLENGE_KEY in scope and (exc.status == 401 or isinstance(exc, AmbiguousCredentials)):
            if isinstance(exc, AmbiguousCredentials):
                realm = ADMIN_REALM if scope["path"].startswith(ADMIN_PREFIX) else REALM
                scope[CHALLENGE_KEY] = challenge("invalid_request", exc.detail, realm=realm)
            headers = {"WWW-Authenticate": scope[CHALLENGE_KEY]}
        response = problem(
            exc.status, exc.type_slug, exc.title, exc.detail, extra={"field": exc.field}, headers=headers
        )
        if dead_session and self.sessions is not None:
            self.sessions.clear(response)
        await response(scope, receive, send)

    async def _user(self, scope: Scope) -> int | None:
        credentials = read_credentials(scope["headers"], self._credential_header)
        session_cookie = None
        if self.sessions is not None and scope["path"] not in self.sessions.sign_in_paths:
            session_cookie = session_id(credentials.cookies, self.sessions.cookie_name)
        if credentials.credential is not None:
            if session_cookie is not None:
                raise two_ways(self._credential_header)
            if self.verifier is None:  # trusted_header mode
                return parse_user_id(credentials.credential.decode("latin-1"))
            token = bearer_token(credentials.credential)
            try:
                return await self.verifier.user_id(token)
            except Unauthenticated as exc:
                scope[CHALLENGE_KEY] = challenge("invalid_token", exc.detail)
                raise
        if session_cookie is not None:
            return await self._session_user(scope, session_cookie, credentials.csrf_token)
        return None

    async def _session_user(self, scope: Scope, session_id: str, csrf_token: bytes | None) -> int:
        assert self.sessions is not None
        store = self.sessions.store
        session = await store.get(session_id)
        if session is None:
            raise Unauthenticated("the session has ended (expired or logged out): sign in again", field=COOKIE_FIELD)
        sent_csrf = csrf_token or b""
        if scope["method"] not in SAFE_METHODS and not hmac.compare_digest(sent_csrf, session.csrf_token.encode()):
            raise Forbidden(
                "a request authenticated by the session cookie must send the session's CSRF token"
                " (GET /auth/session) in X-CSRF-Token",
                field="X-CSRF-Token",
            )
        await store.touch(session_id, session)
        scope[SESSION_KEY] = (session_id, session)
        return session.user_id


__all__ = ["COOKIE_FIELD", "SESSION_KEY", "USER_KEY", "AuthMiddleware", "SessionCookies"]
