"""Verifying bearer JWTs: signature through the identity provider's JWKS (cached,
refreshed on an unknown key id at most every ``jwks_min_refresh_seconds``), issuer,
audience, expiry with a small leeway, and an allowlist of asymmetric algorithms, so
``alg: none`` and HS/RS confusion (an HMAC token "signed" with the public key) fail."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from shared.errors import Unauthenticated, UpstreamError, UpstreamUnavailable
from shared.identity import user_id_or_none
from shared.settings import AuthSettings
from shared.types import Clock

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]
VERIFIED_CACHE_SIZE = 50_000
log = logging.getLogger("bff.auth")


class DeferredJwks:
    """A JWKS fetcher bound once the lifespan has built the identity provider's client."""

    def __init__(self) -> None:
        self._fetch: JwksFetcher | None = None

    def bind(self, fetch: JwksFetcher) -> None:
        self._fetch = fetch

    async def __call__(self) -> Mapping[str, Any]:
        if self._fetch is None:
            raise UpstreamUnavailable("identity", "get_jwks", "the process is not started yet")
        return await self._fetch()


class TokenVerifier:
    def __init__(self, settings: AuthSettings, fetch_jwks: JwksFetcher, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._fetch = fetch_jwks
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self._verified: dict[str, tuple[int, float]] = {}

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            age = self._clock() - self._fetched_at
            if age < self.settings.jwks_min_refresh_seconds or (not force and age < self.settings.jwks_max_age_seconds):
                return
            try:
                document = await self._fetch()
            except UpstreamError as exc:
                log.warning("JWKS refresh failed (%s); keeping %d known keys", exc, len(self._keys))
                self._fetched_at = (
                    self._clock() - self.settings.jwks_max_age_seconds + self.settings.jwks_min_refresh_seconds
                )
                return
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                try:
                    key = jwt.PyJWK(entry)
                except (jwt.PyJWTError, ValueError, KeyError):
                    continue  # unusable or of an algorithm we do not accept
                if key.key_id:
                    keys[key.key_id] = key
            self._keys = keys
            self._fetched_at = self._clock()

    async def user_id(self, token: str) -> int:
        """The verified caller's user id, or ``Unauthenticated`` saying what is wrong.

        A token verified once is remembered until it expires (clients send the same token
        on every request; verifying its signature each time cost ~9 % of CPU)."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        user, expires = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # bounded: a flood of distinct tokens cannot grow memory
        self._verified[token] = (user, expires)
        return user

    async def _verify(self, token: str) -> tuple[int, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT", field="Authorization") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted", field="Authorization")
        kid = header.get("kid")
        await self._refresh(force=False)
        if not isinstance(kid, str) or kid not in self._keys:
            await self._refresh(force=True)  # a rotated key: re-read the JWKS (rate-limited)
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("the token is signed with an unknown key", field="Authorization")
        if key.algorithm_name != algorithm:
            raise Unauthenticated("the token's algorithm does not match its key", field="Authorization")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", field="Authorization") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not meant for this service (audience)", field="Authorization") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token comes from an untrusted issuer", field="Authorization") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is invalid: {type(exc).__name__}", field="Authorization") from None
        user_id = user_id_or_none(str(claims["sub"]))
        if user_id is None:
            raise Unauthenticated("the token's subject is not a user id", field="Authorization")
        return user_id, float(claims["exp"])


__all__ = ["DeferredJwks", "JwksFetcher", "TokenVerifier"]
