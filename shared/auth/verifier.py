"""Verifying bearer JWTs: signature through the identity provider's JWKS, issuer,
audience, expiry with a small leeway, and an allowlist of asymmetric algorithms, so
``alg: none`` and HS/RS confusion (an HMAC token "signed" with the public key) fail.

How the JWKS is read, so that the identity provider's trouble never stalls a login:

* a token whose key id is known is verified against the keys at hand, never waiting
  for a read; when the keys are older than ``jwks_max_age_seconds`` a read starts in the
  background and the request goes on with the current keys;
* a token naming an unknown key id (a rotation) waits for one read, bounded by
  ``key_wait_seconds``; concurrent such tokens share that read;
* one read at a time, and a new one at most every ``jwks_min_refresh_seconds``; a read
  that fails keeps the keys it had;
* a verified token is remembered until it expires, together with the key that verified
  it: when a read drops (or replaces) that key, the token is refused from then on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from shared.errors import Unauthenticated, UpstreamUnavailable
from shared.identity import user_id_or_none
from shared.settings import AuthSettings
from shared.types import Clock

JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]
VERIFIED_CACHE_SIZE = 50_000
#: How long a token with an unknown key id waits for the JWKS read it triggered or joined.
KEY_WAIT_SECONDS = 5.0
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
    """``clock`` (monotonic) times JWKS reads; ``wall_clock`` judges token expiry."""

    def __init__(
        self,
        settings: AuthSettings,
        fetch_jwks: JwksFetcher,
        clock: Clock = time.monotonic,
        *,
        wall_clock: Clock = time.time,
        key_wait_seconds: float = KEY_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self._fetch = fetch_jwks
        self._clock = clock
        self._wall_clock = wall_clock
        self._key_wait = key_wait_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        #: The JWKS entry of each key, so a read that brings the same key keeps its object.
        self._entries: dict[str, Mapping[str, Any]] = {}
        self._read_due = float("-inf")
        self._read_started = float("-inf")
        self._read: asyncio.Task[None] | None = None
        #: token -> (user id, expiry, key id, the key that verified it)
        self._verified: dict[str, tuple[int, float, str, jwt.PyJWK]] = {}

    async def user_id(self, token: str) -> int:
        """The verified caller's user id, or ``Unauthenticated`` saying what is wrong.

        A token verified once is remembered until it expires (clients send the same token
        on every request; verifying its signature each time cost ~9 % of CPU), as long as
        the key that verified it is still in the JWKS."""
        known = self._verified.get(token)
        if known is not None:
            user, expires, kid, key = known
            if self._wall_clock() < expires and self._keys.get(kid) is key:
                if self._clock() >= self._read_due:
                    self._start_read()
                return user
            del self._verified[token]
        user, expires, kid, key = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # bounded: a flood of distinct tokens cannot grow memory
        self._verified[token] = (user, expires, kid, key)
        return user

    async def _verify(self, token: str) -> tuple[int, float, str, jwt.PyJWK]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT", field="Authorization") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted", field="Authorization")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("the token names no key id (kid)", field="Authorization")
        key = self._keys.get(kid)
        if key is None:
            key = await self._key_after_read(kid)  # a rotated key: re-read the JWKS (rate-limited)
        elif self._clock() >= self._read_due:
            self._start_read()  # in the background: this token goes on with the keys at hand
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
        return user_id, float(claims["exp"]), kid, key

    async def _key_after_read(self, kid: str) -> jwt.PyJWK | None:
        """Key ``kid`` once the read in flight (or one started now, if allowed) is done."""
        read = self._start_read()
        if read is not None:
            # asyncio.wait neither cancels the shared read on timeout nor when this
            # request is cancelled, and does not raise what the read raised.
            await asyncio.wait({read}, timeout=self._key_wait)
        return self._keys.get(kid)

    def _start_read(self) -> asyncio.Task[None] | None:
        """The JWKS read in flight, else a new one if the rate limit allows, else ``None``."""
        if self._read is not None:
            return self._read
        now = self._clock()
        if now - self._read_started < self.settings.jwks_min_refresh_seconds:
            return None
        self._read_started = now
        # A context of its own: the read is shared work, not part of the request that started it.
        self._read = asyncio.get_running_loop().create_task(self._read_jwks(), context=contextvars.Context())
        return self._read

    async def _read_jwks(self) -> None:
        try:
            document = await self._fetch()
            entries = document.get("keys")
            if not isinstance(entries, list):
                raise TypeError(f"the JWKS has no 'keys' list (got {type(entries).__name__})")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the provider is down, slow or answered garbage: keep the keys
            log.warning("JWKS read failed (%s: %s); keeping %d known keys", type(exc).__name__, exc, len(self._keys))
            return
        finally:
            self._read = None
        self._install(entries)

    def _install(self, entries: list[Any]) -> None:
        keys: dict[str, jwt.PyJWK] = {}
        kept: dict[str, Mapping[str, Any]] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("kid"), str):
                continue
            kid: str = entry["kid"]
            if self._entries.get(kid) == entry:
                keys[kid] = self._keys[kid]  # unchanged: tokens it verified stay remembered
            else:
                try:
                    keys[kid] = jwt.PyJWK(dict(entry))
                except (jwt.PyJWTError, ValueError, KeyError, TypeError):
                    continue  # unusable or of an algorithm we do not accept
            kept[kid] = entry
        retired = any(keys.get(kid) is not key for kid, key in self._keys.items())
        self._keys, self._entries = keys, kept
        self._read_due = self._clock() + self.settings.jwks_max_age_seconds
        if retired:  # tokens of a dropped or replaced key are refused from now on; free them
            self._verified = {token: known for token, known in self._verified.items() if keys.get(known[2]) is known[3]}


__all__ = ["DeferredJwks", "JwksFetcher", "TokenVerifier"]
