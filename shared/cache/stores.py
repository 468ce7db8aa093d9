"""Where entries live: Redis (shared by every replica) or this process's memory.

In memory, aiocache's ``SimpleMemoryCache`` holds the values and plain dicts the tags.
In Redis, every command goes through the one connection layer (``shared.cache.connection``:
one node, a Sentinel group or a Cluster). On a Cluster each command touches one slot or
is split by redis-py per slot (a multi-key ``DEL``, a pipeline, ``SCAN`` on every
primary); the keys that one command or script must see together share a hash tag
(``shared.cache.keys``).

The refill lock holds a random token: ``try_lock`` returns it, and ``unlock`` deletes the
lock only while it still holds that token (in Redis, one compare-and-delete script). A
holder whose lock expired, and was then taken by another replica, cannot free the other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, Self

from aiocache import SimpleMemoryCache
from aiocache.serializers import NullSerializer

from shared.cache.connection import AnyRedis, RedisConnection, connect
from shared.settings import RedisSettings

Handler = Callable[[bytes], Awaitable[None]]
log = logging.getLogger("bff.cache")


class CacheStore(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None: ...
    async def delete(self, keys: Sequence[str]) -> int: ...
    async def pop_tag(self, tag: str) -> list[str]: ...
    async def keys_with_prefix(self, prefix: str) -> list[str]: ...
    async def try_lock(self, key: str, ttl: float) -> str | None:
        """A token if this caller now holds the lock on ``key`` for ``ttl``; ``None`` if another does."""
        ...

    async def unlock(self, key: str, token: str) -> bool:
        """Free the lock if ``token`` still holds it; ``False`` (nothing freed) otherwise."""
        ...

    async def expire(self, key: str, ttl: float) -> bool: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    async def listen(self, channel: str, handler: Handler) -> None: ...
    async def aclose(self) -> None: ...


class MemoryStore:
    """This process only: the embedded default when no Redis is configured."""

    name = "memory"

    def __init__(self, max_entries: int) -> None:
        # timeout=None: aiocache's own timeout is an asyncio.wait_for (a task per call);
        # the guard owns the time budget, as for Redis.
        self._cache = SimpleMemoryCache(serializer=NullSerializer(), timeout=None)
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._max_entries = max_entries
        self._handlers: dict[str, list[Handler]] = {}

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._cache.get(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None:
        await self._cache.set(key, value, ttl=ttl)
        self._keys[key] = None
        self._keys.move_to_end(key)
        for tag in tags:
            self._tags.setdefault(tag, set()).add(key)
        while len(self._keys) > self._max_entries:
            oldest, _ = self._keys.popitem(last=False)
            await self._cache.delete(oldest)

    async def delete(self, keys: Sequence[str]) -> int:
        deleted = 0
        for key in keys:
            self._keys.pop(key, None)
            deleted += await self._cache.delete(key)
        return deleted

    async def pop_tag(self, tag: str) -> list[str]:
        return sorted(self._tags.pop(tag, set()))

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        return [key for key in self._keys if key.startswith(prefix)]

    async def try_lock(self, key: str, ttl: float) -> str | None:
        token = _new_token()
        try:
            await self._cache.add(key, token.encode(), ttl=ttl)
        except ValueError:  # aiocache: the key exists
            return None
        return token

    async def unlock(self, key: str, token: str) -> bool:
        # No await between the read and the delete yields to another task: one step.
        if await self._cache.get(key) != token.encode():
            return False
        return bool(await self._cache.delete(key))

    async def expire(self, key: str, ttl: float) -> bool:
        """Give an existing entry a new TTL; ``False`` (and nothing written) if it is gone."""
        return bool(await self._cache.expire(key, ttl))

    async def publish(self, channel: str, message: bytes) -> None:
        for handler in self._handlers.get(channel, []):
            await handler(message)

    async def listen(self, channel: str, handler: Handler) -> None:
        self._handlers.setdefault(channel, []).append(handler)

    async def aclose(self) -> None:
        await self._cache.clear()


class RedisStore:
    """Redis, shared by every replica. Short socket timeouts: a slow Redis must not be
    waited on (the guard adds a per-operation budget and a breaker on top)."""

    name = "redis"

    def __init__(self, connection: RedisConnection, *, heartbeat: float = 1.0) -> None:
        self.connection = connection
        self.client: AnyRedis = connection.client
        self._reader = connection.reader
        self._release = connection.script(_RELEASE_IF_OWNED)
        self._pop_set = connection.script(_POP_SET)
        self._heartbeat = heartbeat
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    def connect(cls, redis: RedisSettings | str, *, pool_size: int, op_timeout: float, connect_timeout: float) -> Self:
        """A store on ``redis`` (its settings, or one node's URL)."""
        settings = RedisSettings(url=redis) if isinstance(redis, str) else redis
        return cls(connect(settings, pool_size=pool_size, op_timeout=op_timeout, connect_timeout=connect_timeout))

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._reader.get(key)  # type: ignore[assignment]  # bytes: no decoding
        return value

    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None:
        milliseconds = max(1, int(ttl * 1000))
        async with self.connection.turn(), self.client.pipeline(transaction=False) as pipe:
            pipe.set(key, value, px=milliseconds)
            for tag in tags:
                pipe.sadd(tag, key)
                # A tag outlives its longest entry; stale members are harmless (DEL of nothing).
                pipe.pexpire(tag, milliseconds, gt=True)
                pipe.pexpire(tag, milliseconds, nx=True)
            await pipe.execute()

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        deleted: int = await self.client.delete(*keys)
        return deleted

    async def pop_tag(self, tag: str) -> list[str]:
        # A script, not MULTI: one key, atomic, and redis-py 8.1's Cluster transactions
        # break on SMEMBERS (its reply callback is handed an unexpected ``keys``).
        members: list[bytes] = await self._pop_set(keys=[tag])
        return sorted(member.decode() for member in members)

    async def keys_with_prefix(self, prefix: str) -> list[str]:
        # SCAN, never KEYS: it does not block Redis on a large keyspace.
        return [key.decode() async for key in self.client.scan_iter(match=f"{_escape(prefix)}*", count=500)]

    async def try_lock(self, key: str, ttl: float) -> str | None:
        token = _new_token()
        acquired = await self.client.set(key, token.encode(), nx=True, px=max(1, int(ttl * 1000)))
        return token if acquired else None

    async def unlock(self, key: str, token: str) -> bool:
        released = await self._release(keys=[key], args=[token.encode()])
        return bool(released)

    async def expire(self, key: str, ttl: float) -> bool:
        return bool(await self.client.pexpire(key, max(1, int(ttl * 1000))))

    async def publish(self, channel: str, message: bytes) -> None:
        await self.connection.publish(channel, message)

    async def listen(self, channel: str, handler: Handler) -> None:
        await self.connection.open()  # at start: a Cluster's slot map before the first request
        self._listener = asyncio.create_task(self._listen(channel, handler), name="cache-invalidation-listener")

    async def _listen(self, channel: str, handler: Handler) -> None:
        """Deliver each event to ``handler``; at each (re)subscription, ``RESYNC`` first:
        events published while this replica was not subscribed are lost for good."""
        delay = 0.1
        while True:
            try:
                async for event in self.connection.subscribe(channel, heartbeat=self._heartbeat):
                    if event is None:
                        delay = 0.1
                        await handler(RESYNC)
                    else:
                        await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away or failed over: subscribe again
                log.warning("cache invalidation listener lost Redis (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                await self.connection.refresh()  # a Cluster: where the channel's shard is now
                # Capped low: the time to notice a promoted primary is part of the
                # staleness window (docs/sre-guide.md, "Redis").
                delay = min(delay * 2, 1.0)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.connection.aclose()


#: What the listener hands its handler when a subscription starts again: it may have
#: missed events, so whatever the process holds in front of Redis must go.
RESYNC = b'{"resync": true}'

#: The members of a set, and the set deleted, in one atomic step.
_POP_SET = """
local members = redis.call("smembers", KEYS[1])
redis.call("del", KEYS[1])
return members
"""

#: Delete the lock only if it still holds the caller's token, in one atomic step.
_RELEASE_IF_OWNED = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def _new_token() -> str:
    return secrets.token_hex(16)


def _escape(prefix: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)


__all__ = ["RESYNC", "CacheStore", "Handler", "MemoryStore", "RedisStore"]
