"""Where entries live: Redis (shared by every replica) or this process's memory.

Both sit on aiocache (``RedisCache`` / ``SimpleMemoryCache``) for get, set and delete.
What aiocache does not cover — tag sets, SCAN by prefix, pub/sub and the refill lock —
goes to the underlying redis-py client, or to plain dicts in memory.

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
from typing import Protocol
from urllib.parse import urlsplit

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import NullSerializer
from redis.asyncio import BlockingConnectionPool, Redis

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

    def __init__(self, url: str, *, pool_size: int, op_timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(url)
        self._cache = RedisCache(
            serializer=NullSerializer(encoding=None),  # raw bytes in, raw bytes out
            endpoint=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(parts.path.lstrip("/") or 0),
            password=parts.password,
            pool_max_size=pool_size,
            create_connection_timeout=connect_timeout,
            # A burst of more concurrent operations than connections (a cold stampede: the
            # very case the fill lock is for) waits for a free connection within the budget,
            # rather than failing at once with MaxConnectionsError and tripping the breaker.
            connection_pool_class=BlockingConnectionPool,
            connection_pool_kwargs={"socket_timeout": op_timeout, "timeout": op_timeout},
            timeout=None,  # the guard owns the time budget
        )
        self.client: Redis = self._cache.client
        self._release = self.client.register_script(_RELEASE_IF_OWNED)
        self._listener: asyncio.Task[None] | None = None

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._cache.get(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float, tags: Sequence[str]) -> None:
        milliseconds = max(1, int(ttl * 1000))
        async with self.client.pipeline(transaction=False) as pipe:
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
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.smembers(tag)
            pipe.delete(tag)
            members, _ = await pipe.execute()
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
        await self.client.publish(channel, message)

    async def listen(self, channel: str, handler: Handler) -> None:
        self._listener = asyncio.create_task(self._listen(channel, handler), name="cache-invalidation-listener")

    async def _listen(self, channel: str, handler: Handler) -> None:
        delay = 0.1
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await handler(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: resubscribe with backoff
                log.warning("cache invalidation listener lost Redis (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated in redis-py

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.client.aclose()


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


__all__ = ["CacheStore", "Handler", "MemoryStore", "RedisStore"]
