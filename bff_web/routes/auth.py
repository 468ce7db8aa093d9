"""Browser sign-in for the web app (the BFF pattern): the browser never sees a token.

::

    GET  /auth/login?return_to=/orders[&login_hint=7]   302 to the identity provider (code flow + PKCE);
                                                        return_to: a path here or a URL on a
                                                        listed client origin (server.cors_origins)
    GET  /auth/callback?code=…&state=…                  exchanges the code, starts a session,
                                                        sets the cookie, 303 to return_to
    GET  /auth/session                                  who is signed in, and the CSRF token
                                                        to send in X-CSRF-Token
    POST /auth/logout                                   ends this session (needs X-CSRF-Token)
    POST /auth/logout-all                               ends every session of the user

The session lives in the shared store (``shared.auth.sessions``); the cookie holds only
its random id: HttpOnly, Secure, SameSite, ``__Host-`` prefixed. A second, short-lived
cookie (``<cookie_name>-login``) ties a sign-in's callback to the browser that started
it, so nobody can slip their own sign-in into someone else's browser (login CSRF).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bff_web.settings import SessionSettings, WebSettings
from shared.auth import TokenVerifier
from shared.auth.middleware import SESSION_KEY, SessionCookies
from shared.auth.sessions import LoginState, Session, SessionStore, digest
from shared.deadline import Deadline
from shared.errors import BadRequest, Unauthenticated, UpstreamRejected
from shared.responses import JSONResponse
from upstreams.identity import IdentityClient
from upstreams.identity.pkce import new_verifier, pkce_challenge

NO_STORE = {"Cache-Control": "no-store"}
#: Where the session cookie is not read (an ended session must not stop a new sign-in).
SIGN_IN_PATHS = frozenset({"/auth/login", "/auth/callback"})


def _settings(request: Request) -> SessionSettings:
    settings: WebSettings = request.state.runtime.settings
    return settings.sessions


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.state.sessions
    return store


async def login(request: Request) -> Response:
    settings = _settings(request)
    return_to = request.query_params.get("return_to") or settings.post_login_path
    if not _may_return_to(return_to, request.state.runtime.settings.server.cors_origins):
        raise BadRequest(
            "'return_to' must be a path on this site (e.g. /orders) or a URL on one of server.cors_origins",
            field="return_to",
        )
    state, verifier, browser = secrets.token_urlsafe(32), new_verifier(), secrets.token_urlsafe(32)
    login_state = LoginState(verifier, return_to, browser=digest(browser))
    await _store(request).start_login(state, login_state, settings.login_timeout_seconds)
    query = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": "openid",
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    hint = request.query_params.get("login_hint")
    if hint:
        query["login_hint"] = hint
    response = RedirectResponse(f"{settings.authorize_url}?{urlencode(query)}", status_code=302, headers=NO_STORE)
    response.set_cookie(
        login_cookie_name(settings),
        browser,
        max_age=int(settings.login_timeout_seconds),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",  # sent on the provider's redirect back (a cross-site top-level GET)
    )
    return response


async def callback(request: Request) -> Response:
    settings, store, params = _settings(request), _store(request), request.query_params
    if params.get("error"):
        raise Unauthenticated(f"the identity provider did not sign you in ({params['error'][:64]})", field="error")
    code, state = params.get("code"), params.get("state")
    if not code or not state:
        raise BadRequest("the identity provider's answer lacks 'code' or 'state'", field="code")
    started = await store.finish_login(state)
    if started is None:
        raise BadRequest("unknown, expired or already used sign-in: start again at /auth/login", field="state")
    if not started.started_in(request.cookies.get(login_cookie_name(settings))):
        raise BadRequest(
            "this sign-in was started in another browser, or its cookie expired: start again at /auth/login",
            field="state",
        )
    identity: IdentityClient = request.state.identity
    try:
        token = await identity.exchange_code(
            code=code,
            verifier=started.verifier,
            redirect_uri=settings.redirect_uri,
            client_id=settings.client_id,
            deadline=Deadline.after(request.state.runtime.settings.deadline_seconds),
        )
    except UpstreamRejected as exc:
        raise Unauthenticated("the identity provider refused the sign-in code: sign in again", field="code") from exc
    verifier: TokenVerifier = request.state.verifier
    user_id = await verifier.user_id(token.access_token)
    session_id, session = await store.create(user_id, token.access_token, token.expires_in)
    previous = request.cookies.get(settings.cookie_name)
    if previous:
        await store.delete(previous)  # a new sign-in replaces this browser's session: one live id per browser
    response = RedirectResponse(started.return_to, status_code=303, headers=NO_STORE)
    _set_cookie(response, settings, session_id, session)
    response.delete_cookie(
        login_cookie_name(settings), path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


async def current_session(request: Request) -> Response:
    _, session = _session(request)
    return JSONResponse(_describe(session), headers=NO_STORE)


async def logout(request: Request) -> Response:
    session_id, _ = _session(request)
    await _store(request).delete(session_id)
    response = Response(status_code=204, headers=NO_STORE)
    _cookies(request).clear(response)
    return response


async def logout_all(request: Request) -> Response:
    _, session = _session(request)
    ended = await _store(request).delete_all(session.user_id)
    response = JSONResponse({"sessions_ended": ended}, headers=NO_STORE)
    _cookies(request).clear(response)
    return response


def _cookies(request: Request) -> SessionCookies:
    cookies: SessionCookies = request.state.session_cookies
    return cookies


def _session(request: Request) -> tuple[str, Session]:
    found: tuple[str, Session] | None = request.scope.get(SESSION_KEY)
    if found is None:
        raise Unauthenticated("no browser session: sign in at /auth/login", field="Cookie")
    return found


def _may_return_to(target: str, client_origins: list[str]) -> bool:
    """A path on this site, or a URL on a web app origin that server.cors_origins lists
    (a client served from an origin of its own, like the reference client): never an
    open redirect."""
    if "\\" in target or any(ord(char) < 0x21 or ord(char) == 0x7F for char in target):
        return False
    if target.startswith("/"):
        return not target.startswith("//")
    parts = urlsplit(target)
    return (
        parts.scheme in ("http", "https")
        and "@" not in parts.netloc
        and f"{parts.scheme}://{parts.netloc}" in client_origins
    )


def login_cookie_name(settings: SessionSettings) -> str:
    """The cookie that ties a sign-in's callback to the browser that started it."""
    return f"{settings.cookie_name}-login"


def _describe(session: Session) -> dict[str, Any]:
    return {
        "user_id": session.user_id,
        "csrf_token": session.csrf_token,
        "expires_at": datetime.fromtimestamp(session.expires_at, UTC).isoformat().replace("+00:00", "Z"),
    }


def _set_cookie(response: Response, settings: SessionSettings, session_id: str, session: Session) -> None:
    response.set_cookie(
        settings.cookie_name,
        session_id,
        max_age=max(1, int(session.expires_at - time.time())),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite=settings.same_site,
    )


ROUTES = [
    Route("/auth/login", login, methods=["GET"]),
    Route("/auth/callback", callback, methods=["GET"]),
    Route("/auth/session", current_session, methods=["GET"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/logout-all", logout_all, methods=["POST"]),
]

__all__ = ["ROUTES", "SIGN_IN_PATHS", "login_cookie_name"]
