"""Establishing the caller before any handler runs.

With a bearer token, it must verify (else 401 problem+json with ``WWW-Authenticate``);
without one the request goes on anonymous, and endpoints that need a caller refuse it
(``shared.identity.caller_id``). In ``trusted_header`` mode ``X-User-Id`` is taken as is.
"""

from __future__ import annotations

from shared.auth.verifier import TokenVerifier
from shared.errors import ClientError, Unauthenticated
from shared.identity import USER_KEY, parse_user_id
from shared.problems import problem
from shared.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/admin/"


class AuthMiddleware:
    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The admin API's bearer is admin.token, not a user's JWT; shared.admin checks it.
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            user = await self._user(scope)
        except ClientError as exc:
            headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
            response = problem(
                exc.status, exc.type_slug, exc.title, exc.detail, extra={"field": exc.field}, headers=headers
            )
            await response(scope, receive, send)
            return
        if user is not None:
            scope[USER_KEY] = user
        await self.app(scope, receive, send)

    async def _user(self, scope: Scope) -> int | None:
        headers = dict(scope["headers"])
        if self.verifier is None:  # trusted_header mode
            raw = headers.get(b"x-user-id")
            if raw is None:
                return None

            return parse_user_id(raw.decode("latin-1"))
        authorization = headers.get(b"authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("use 'Authorization: Bearer <token>'", field="Authorization")
        return await self.verifier.user_id(token.strip())


__all__ = ["USER_KEY", "AuthMiddleware"]
