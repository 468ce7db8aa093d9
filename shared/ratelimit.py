"""Rate limiting with token buckets: in Redis so limits hold across replicas, in process
memory when Redis is absent or failing (fail open to a per-process limit).

A request takes one token from its client's bucket (the user, else the client's address
as ``shared.forwarded`` works it out behind trusted proxies; keyed by HMAC, so no raw id
or address is stored), from its route's bucket if one is configured,
and from the total bucket. Refused requests get 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from redis.commands.core import AsyncScript

from shared.cache.connection import AnyRedis
from shared.cache.guarded import GuardedStore
from shared.forwarded import ClientAddresses
from shared.identity import USER_KEY
from shared.problems import problem
from shared.settings import Rate, RateLimitSettings
from shared.types import ASGIApp, Clock, Receive, Scope, Send

log = logging.getLogger("bff.ratelimit")

# KEYS[1]: the bucket; ARGV: rate per second, burst, now (ms). Returns {allowed, retry_after_ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) / 1000 * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, retry}
"""


@dataclass(slots=True)
class _LocalBucket:
    tokens: float
    updated: float


#: Bucket keys remembered (one per client and rule); past it they are derived again.
MAX_KEYS = 100_000


class LocalBuckets:
    """The same token buckets in this process's memory."""

    def __init__(self, clock: Clock = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, _LocalBucket] = OrderedDict()
        self._max = max_buckets

    def take(self, key: str, rate: Rate) -> float:
        """0 if a token was taken, else seconds until one will be there."""
        now = self._clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self._max:
                # Bounded memory, least recently used out first: a flood of new clients
                # cannot reset the buckets of the clients still sending.
                buckets.popitem(last=False)
            bucket = buckets[key] = _LocalBucket(rate.burst, now)
        else:
            buckets.move_to_end(key)
        bucket.tokens = min(rate.burst, bucket.tokens + (now - bucket.updated) * rate.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate.per_second


class RateLimiter:
    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._secret = os.urandom(32)
        self._prefix = "bff"
        self._guard: GuardedStore | None = None
        self._script: AsyncScript | None = None
        self.local = LocalBuckets()
        self.fallbacks = 0
        #: Bucket name -> its key (an HMAC): derived once per client, not once per request.
        self._keys: dict[str, str] = {}
        #: The route rules, parsed once: (method, path prefix, rule, rate).
        self._routes = [(*key.partition(" ")[::2], key, rate) for key, rate in settings.routes.items()]

    def bind(self, secret: bytes, prefix: str, redis: AnyRedis | None, guard: GuardedStore) -> None:
        """Share buckets through ``redis`` (the cache's connection: one node, Sentinel or
        Cluster), within ``guard``'s budget and breaker. Each script call touches one
        bucket, one key: on a Cluster it runs on the shard owning that key."""
        self._secret, self._prefix, self._guard = secret, prefix, guard
        self._script = redis.register_script(_TAKE) if redis is not None else None
        self._keys.clear()

    def _key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()  # bounded; only costs the next HMACs, never a limit
            digest = hmac.digest(self._secret, name.encode(), "sha256")[:12].hex()  # one C call
            key = self._keys[name] = f"{self._prefix}:rl:{digest}"
        return key

    async def _take(self, name: str, rate: Rate) -> float:
        key = self._key(name)
        if self._script is not None and self._guard is not None:
            script = self._script

            async def in_redis() -> list[int]:
                result: list[int] = await script(
                    keys=[key], args=[rate.per_second, rate.burst, int(time.time() * 1000)]
                )
                return result

            answer = await self._guard.run(in_redis, None)  # budgeted, behind the cache's breaker
            if answer is not None:
                allowed, retry_ms = int(answer[0]), int(answer[1])
                return 0.0 if allowed else retry_ms / 1000
            self.fallbacks += 1
        return self.local.take(key, rate)

    async def check(self, method: str, path: str, client: str) -> float:
        """0 if the request may go on, else the seconds to wait (for Retry-After)."""
        settings = self.settings
        routes = [
            (f"route:{rule}:{client}", rate)
            for route_method, prefix, rule, rate in self._routes
            if (route_method == "*" or route_method == method) and path.startswith(prefix)
        ]
        if self._script is None:  # this process's buckets: no await, no coroutine per bucket
            take, key = self.local.take, self._key
            wait = take(key(f"client:{client}"), settings.per_client)
            for name, rate in routes:
                wait = max(wait, take(key(name), rate))
            return max(wait, take(key("total"), settings.total))
        waits = [await self._take(f"client:{client}", settings.per_client)]
        for name, rate in routes:
            waits.append(await self._take(name, rate))
        waits.append(await self._take("total", settings.total))
        return max(waits)


class RateLimitMiddleware:
    """Pure ASGI; runs after authentication so a known user is limited as a user."""

    EXEMPT = frozenset({"/livez", "/readyz", "/metrics"})

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None, addresses: ClientAddresses | None = None) -> None:
        self.app = app
        self.limiter = limiter
        self.addresses = addresses or ClientAddresses(())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        path = scope.get("path", "")
        # Probes, scrapes and the token-protected admin API are never limited: an operator
        # must not be locked out during the very incident the limiter is absorbing.
        if scope["type"] != "http" or limiter is None or path in self.EXEMPT or path.startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        user = scope.get(USER_KEY)
        client = f"user:{user}" if user is not None else f"ip:{self.addresses.of(scope)}"
        wait = await limiter.check(scope["method"], scope["path"], client)
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            response = problem(
                429,
                "rate-limited",
                "Too many requests",
                f"slow down: try again in {retry_after}s",
                headers={"Retry-After": retry_after},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


__all__ = ["LocalBuckets", "RateLimitMiddleware", "RateLimiter"]
