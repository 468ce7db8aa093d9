"""Browser sessions: the BFF pattern for browser apps.

Tokens stay on the server. The browser holds only a random session id in an HttpOnly,
Secure, SameSite cookie; the session itself (user, access token, CSRF token, expiry) is
kept in the cache's store, so it is in Redis and shared by every replica when Redis is
configured, and in-process otherwise. Logging out deletes it there, for every replica.

What is stored, and how:

* id (the cookie): ``<user slot>.<32 random bytes>``, where the user slot is an HMAC of
  the user id (16 hex digits: it names no user, and is the same for all their sessions);
* key: ``<prefix>:session:{<user slot>}:<sha256 of the id>``; the id itself is never
  stored, so a read of Redis does not yield a usable cookie;
* value: JSON with the user id, the CSRF token, times, and the access token sealed with
  the cache's AES-GCM keys (the key as associated data, so a value cannot be moved);
* index: ``<prefix>:sessions:{<user slot>}``, the set of the user's session keys, so
  "log out everywhere" finds them without a scan.

The user slot in braces is a hash tag: on a Redis Cluster a session and its user's index
live in one slot, so writing both, and ending them all, is one command to one node.

Unlike cached answers, a session store that fails is not a miss: the request gets 503
(the caller is not logged out because Redis blinked), and nothing is half-written.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from shared.cache.keys import CacheKeys
from shared.cache.sealing import Sealer, SealError
from shared.cache.stores import CacheStore
from shared.errors import UpstreamUnavailable
from shared.types import Clock

T = TypeVar("T")
#: Cookie names with this prefix are only accepted by browsers when Secure, path /, no Domain.
HOST_PREFIX = "__Host-"
#: Sessions whose last TTL refresh this process remembers (then it forgets them all).
TOUCHED_MEMORY = 100_000
#: The user slot at the head of a session id (and the hash tag of its keys).
_SLOT = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    csrf_token: str
    access_token: str
    created_at: float
    #: Absolute end: the sooner of the access token's expiry and ``max_age``.
    expires_at: float


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a login started with, kept until its callback (one use)."""

    verifier: str
    return_to: str
    #: Digest of the value of the login cookie set in the browser that started the
    #: login: the callback must come from that browser (no login CSRF, RFC 6749 §10.12).
    browser: str

    def started_in(self, browser_secret: str | None) -> bool:
        """Whether the login cookie ``browser_secret`` is the one this login set."""
        return browser_secret is not None and hmac.compare_digest(self.browser, digest(browser_secret))


class SessionStore:
    """Sessions in the cache's store; bound to it by the lifespan (``bind``)."""

    def __init__(self, *, idle_seconds: float, max_age_seconds: float, timeout: float, clock: Clock = time.time):
        self.idle_seconds = idle_seconds
        self.max_age_seconds = max_age_seconds
        self._timeout = timeout
        self._clock = clock
        self._store: CacheStore | None = None
        self._keys: CacheKeys | None = None
        self._sealer: Sealer | None = None
        self._touched: dict[str, float] = {}

    def bind(self, store: CacheStore, keys: CacheKeys, sealer: Sealer) -> None:
        self._store, self._keys, self._sealer = store, keys, sealer

    async def create(self, user_id: int, access_token: str, token_expires_in: float) -> tuple[str, Session]:
        """A new session for ``user_id``; returns its id (the cookie value) and the session."""
        store, _, sealer = self._bound()
        now = self._clock()
        session = Session(
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            access_token=access_token,
            created_at=now,
            expires_at=now + min(token_expires_in, self.max_age_seconds),
        )
        slot = self._user_slot(user_id)
        session_id = f"{slot}.{secrets.token_urlsafe(32)}"
        key = self._key(session_id)
        record = {
            "user_id": user_id,
            "csrf_token": session.csrf_token,
            "access_token": sealer.seal(access_token.encode(), key.encode()).hex(),
            "created_at": session.created_at,
            "expires_at": session.expires_at,
        }
        tags = [self._index(slot)]
        await self._run("create", store.set(key, orjson.dumps(record), self._ttl(session, now), tags))
        self._touched[key] = now
        return session_id, session

    async def get(self, session_id: str) -> Session | None:
        """The live session with this id, or ``None`` (unknown, expired, logged out)."""
        store, _, sealer = self._bound()
        key = self._key(session_id)
        raw = await self._run("read", store.get(key))
        if raw is None:
            return None
        try:
            record: dict[str, Any] = orjson.loads(raw)
            token = sealer.open(bytes.fromhex(record["access_token"]), key.encode()).decode()
            session = Session(
                user_id=int(record["user_id"]),
                csrf_token=str(record["csrf_token"]),
                access_token=token,
                created_at=float(record["created_at"]),
                expires_at=float(record["expires_at"]),
            )
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, SealError):
            return None  # written by another version or with a retired key: as good as gone
        now = self._clock()
        if session.expires_at <= now:
            return None
        return session

    async def touch(self, session_id: str, session: Session) -> None:
        """Restart the idle timeout of a session in use: a new TTL on the existing entry
        (never a rewrite, which could bring back a session logged out meanwhile), at most
        once per tenth of the timeout per process, so a busy page costs no store write
        per request."""
        now = self._clock()
        key = self._key(session_id)
        if now - self._touched.get(key, 0.0) < self.idle_seconds / 10:
            return
        if len(self._touched) >= TOUCHED_MEMORY:
            self._touched.clear()
        self._touched[key] = now
        store, _, _ = self._bound()
        await self._run("touch", store.expire(key, self._ttl(session, now)))

    async def delete(self, session_id: str) -> None:
        store, _, _ = self._bound()
        await self._run("delete", store.delete([self._key(session_id)]))

    async def delete_all(self, user_id: int) -> int:
        """Log ``user_id`` out everywhere; returns how many sessions ended."""
        store, keys, _ = self._bound()
        session_keys = await self._run("delete", store.pop_tag(self._index(self._user_slot(user_id))))
        # Sessions made before the index moved to the user's slot are tagged as they were.
        session_keys += await self._run("delete", store.pop_tag(keys.tag(_user_entity(user_id))))
        # One slot: one DEL to one node on a Cluster (redis-py splits the legacy ones by slot).
        return await self._run("delete", store.delete(session_keys)) if session_keys else 0

    async def start_login(self, state: str, login: LoginState, ttl: float) -> None:
        store, _, _ = self._bound()
        value = orjson.dumps({"verifier": login.verifier, "return_to": login.return_to, "browser": login.browser})
        await self._run("login", store.set(self._login_key(state), value, ttl, []))

    async def finish_login(self, state: str) -> LoginState | None:
        """The login ``state`` started, once: a replayed or unknown state gets ``None``."""
        store, _, _ = self._bound()
        key = self._login_key(state)
        raw = await self._run("login", store.get(key))
        if raw is None or not await self._run("login", store.delete([key])):
            return None  # another callback took it first
        try:
            record = orjson.loads(raw)
            return LoginState(
                verifier=str(record["verifier"]), return_to=str(record["return_to"]), browser=str(record["browser"])
            )
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    def _ttl(self, session: Session, now: float) -> float:
        return max(1.0, min(self.idle_seconds, session.expires_at - now))

    def _key(self, session_id: str) -> str:
        _, keys, _ = self._bound()
        slot, dot, _ = session_id.partition(".")
        if dot and _SLOT.fullmatch(slot):
            return f"{keys.prefix}:session:{{{slot}}}:{digest(session_id)}"
        return f"{keys.prefix}:session:{digest(session_id)}"  # an id from before user slots

    def _user_slot(self, user_id: int) -> str:
        _, keys, _ = self._bound()
        return hmac.digest(keys.secret, _user_entity(user_id).encode(), "sha256")[:8].hex()

    def _index(self, slot: str) -> str:
        _, keys, _ = self._bound()
        return f"{keys.prefix}:sessions:{{{slot}}}"

    def _login_key(self, state: str) -> str:
        _, keys, _ = self._bound()
        return f"{keys.prefix}:login:{digest(state)}"

    def _bound(self) -> tuple[CacheStore, CacheKeys, Sealer]:
        if self._store is None or self._keys is None or self._sealer is None:
            raise RuntimeError("SessionStore used before the lifespan bound it to the cache's store")
        return self._store, self._keys, self._sealer

    async def _run(self, what: str, operation: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await operation
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis down, slow or refusing: say so, never a 500
            raise UpstreamUnavailable("sessions", what, f"session store failed: {type(exc).__name__}") from exc


def digest(secret: str) -> str:
    """What the store keeps of a secret the browser holds (sha256 hex): never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _user_entity(user_id: int) -> str:
    return f"sessions-of-user:{user_id}"


SessionLookup = Callable[[str], Awaitable[Session | None]]

__all__ = ["HOST_PREFIX", "LoginState", "Session", "SessionLookup", "SessionStore", "digest"]
