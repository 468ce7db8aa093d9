"""Fresh, stale-while-revalidate, stale-if-error and coalescing, per operation.

``get_or_load`` is the whole contract::

    L1 (this process) ─► store (Redis or memory) ─► fresh: serve
                                                 ├► stale: serve, refresh once in the background
                                                 └► miss: one load per key per process (others wait
                                                          on it), one per key across replicas (a short
                                                          lock with a token, released only by its
                                                          holder; others poll briefly for its result)
    a failed load with a usable stale entry ─► serve stale (stale-if-error)

Entries of operations that return PII are sealed (AES-GCM) before they leave the process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.cache.entry import Entry, EntryError
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.local import LocalCache
from shared.cache.sealing import Sealer, SealError
from shared.cache.stores import MemoryStore, RedisStore
from shared.deadline import Deadline
from shared.errors import UpstreamError
from shared.policy import CachePolicy
from shared.settings import CacheSettings
from shared.types import Clock

log = logging.getLogger("bff.cache")
#: What a load returns: the body to store, and the parsed model when the caller has one.
Loaded = tuple[bytes, Any]
Loader = Callable[[Deadline], Awaitable[Loaded]]
COUNTERS = ("hits", "misses", "stale", "coalesced", "errors", "refreshes")


@dataclass(frozen=True, slots=True)
class CacheResult:
    body: bytes
    #: The parsed model when this call loaded it itself (no need to parse ``body`` again).
    model: Any
    stale: bool


class ResponseCache:
    def __init__(
        self,
        store: GuardedStore,
        keys: CacheKeys,
        sealer: Sealer,
        settings: CacheSettings,
        *,
        local: LocalCache | None = None,
        wall_clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.keys = keys
        self._sealer = sealer
        self._settings = settings
        self._local = local
        self._wall = wall_clock
        self._sleep = sleep
        self._inflight: dict[str, asyncio.Future[Loaded]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self.counters: dict[str, Counter[str]] = {}
        #: Names this instance in invalidation events, so it skips its own echo.
        self.origin = base64.urlsafe_b64encode(os.urandom(9)).decode()

    def _count(self, operation: str, name: str) -> None:
        self.counters.setdefault(operation, Counter())[name] += 1

    async def get_or_load(
        self,
        *,
        operation: str,
        key: str,
        policy: CachePolicy,
        sealed: bool,
        tags: Sequence[str],
        deadline: Deadline,
        load: Loader,
    ) -> CacheResult:
        entry = await self._lookup(operation, key, sealed)
        now = self._wall()
        if entry is not None and entry.fresh(now):
            self._count(operation, "hits")
            return CacheResult(entry.body, None, stale=False)
        if entry is not None and entry.usable(now) and policy.stale_while_revalidate:
            self._count(operation, "stale")
            self._refresh_in_background(operation, key, policy, sealed, tags, load)
            return CacheResult(entry.body, None, stale=True)
        self._count(operation, "misses")
        try:
            body, model = await self._load_once(operation, key, policy, sealed, tags, deadline, load)
        except UpstreamError:
            if entry is not None and entry.usable(self._wall()):
                self._count(operation, "stale")
                return CacheResult(entry.body, None, stale=True)
            raise
        return CacheResult(body, model, stale=False)

    async def _lookup(self, operation: str, key: str, sealed: bool) -> Entry | None:
        if self._local is not None:
            found = self._local.get(key)
            if found is not None:
                return found
        raw = await self.store.get(key)
        if raw is None:
            return None
        try:
            entry = Entry.decode(raw)
            if entry.sealed:
                entry = Entry(entry.stored_at, entry.ttl, entry.stale_ttl, self._sealer.open(entry.body, key.encode()))
            elif sealed:
                raise EntryError("a PII entry was stored unsealed")
        except (EntryError, SealError) as exc:
            self._count(operation, "errors")
            log.warning("cache entry for %s unreadable (%s); treating as a miss", operation, exc)
            return None
        self._remember_locally(key, entry, ())
        return entry

    def _remember_locally(self, key: str, entry: Entry, tags: Sequence[str]) -> None:
        if self._local is not None:
            self._local.put(key, entry, entry.ttl - entry.age(self._wall()), tags)

    async def _load_once(
        self,
        operation: str,
        key: str,
        policy: CachePolicy,
        sealed: bool,
        tags: Sequence[str],
        deadline: Deadline,
        load: Loader,
    ) -> Loaded:
        running = self._inflight.get(key)
        if running is not None:
            self._count(operation, "coalesced")
            return await asyncio.shield(running)
        # A fill may have finished while this caller's lookup was in flight.
        just_filled = self._recently_filled(key)
        if just_filled is not None:
            self._count(operation, "coalesced")
            return just_filled.body, None
        # The fill runs as its own task: a caller that goes away must not cancel the
        # callers coalesced onto it.
        task = asyncio.ensure_future(self._fill(operation, key, policy, sealed, tags, deadline, load))
        self._inflight[key] = task

        def forget(done: asyncio.Future[Loaded]) -> None:
            self._inflight.pop(key, None)
            # Callers that went away (cancelled) leave nobody to read a failure: read it
            # here, or asyncio logs "Task exception was never retrieved" with its traceback.
            if not done.cancelled():
                done.exception()

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _fill(
        self,
        operation: str,
        key: str,
        policy: CachePolicy,
        sealed: bool,
        tags: Sequence[str],
        deadline: Deadline,
        load: Loader,
    ) -> Loaded:
        lock = self.keys.lock(key)
        token = await self.store.try_lock(lock, self._settings.lock_ttl)
        if token is False:
            # Another replica is filling this key: give it a moment before calling too.
            waited = await self._wait_for_peer(operation, key, sealed, deadline)
            if waited is not None:
                return waited.body, None
        try:
            body, model = await load(deadline)
            await self._store(key, body, policy, sealed, tags)
            return body, model
        finally:
            if token:
                # Frees only our own lock: past lock_ttl another replica may hold it.
                await self.store.unlock(lock, token)

    def _recently_filled(self, key: str) -> Entry | None:
        entry = self._local.get(key) if self._local is not None else None
        return entry if entry is not None and entry.fresh(self._wall()) else None

    async def _wait_for_peer(self, operation: str, key: str, sealed: bool, deadline: Deadline) -> Entry | None:
        waited = 0.0
        step = 0.01
        budget = min(self._settings.lock_wait, deadline.remaining() / 2)
        while waited < budget:
            await self._sleep(step)
            waited += step
            entry = await self._lookup(operation, key, sealed)
            if entry is not None and entry.fresh(self._wall()):
                self._count(operation, "coalesced")
                return entry
        return None

    async def _store(self, key: str, body: bytes, policy: CachePolicy, sealed: bool, tags: Sequence[str]) -> None:
        entry = Entry(self._wall(), policy.ttl, policy.stale_ttl, body)
        stored = (
            Entry(entry.stored_at, entry.ttl, entry.stale_ttl, self._sealer.seal(body, key.encode()), sealed=True)
            if sealed
            else entry
        )
        tag_keys = [self.keys.tag(tag) for tag in tags]
        await self.store.set(key, stored.encode(), policy.ttl + policy.stale_ttl, tag_keys)
        self._remember_locally(key, entry, tag_keys)

    def _refresh_in_background(
        self, operation: str, key: str, policy: CachePolicy, sealed: bool, tags: Sequence[str], load: Loader
    ) -> None:
        if key in self._refreshing or key in self._inflight:
            return
        self._count(operation, "refreshes")

        async def refresh() -> None:
            deadline = Deadline.after(self._settings.refresh_timeout)
            try:
                await self._load_once(operation, key, policy, sealed, tags, deadline, load)
            except UpstreamError as exc:
                log.info("background refresh of %s failed: %s; the stale entry stays", operation, exc)

        task = asyncio.create_task(refresh(), name=f"cache-refresh:{operation}")
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    # Invalidation ---------------------------------------------------------------------

    async def invalidate_entity(self, entity: str, *, broadcast: bool = True) -> int:
        """Drop every entry tagged with ``entity`` here and in the store; tell the replicas."""
        tag = self.keys.tag(entity)
        keys = await self.store.pop_tag(tag)
        deleted = await self.store.delete(keys)
        self._drop_local(keys, tag)
        if broadcast:
            event = {"entity": entity, "keys": keys, "origin": self.origin}
            await self.store.publish(self.keys.channel, orjson.dumps(event))
        return deleted

    def _drop_local(self, keys: Sequence[str], tag: str) -> None:
        if self._local is not None:
            self._local.drop(keys)
            self._local.drop_tag(tag)

    async def invalidate_operation(self, operation: str, *, broadcast: bool = True) -> int:
        """Drop every entry of one operation (``catalog.get_product``), found by SCAN."""
        prefix = self.keys.operation_prefix(operation)
        keys = await self.store.keys_with_prefix(prefix)
        deleted = await self.store.delete(keys)
        if self._local is not None:
            self._local.drop_prefix(prefix)
        if broadcast:
            await self.store.publish(self.keys.channel, orjson.dumps({"operation": operation, "origin": self.origin}))
        return deleted

    async def _on_event(self, message: bytes) -> None:
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError:
            log.warning("ignoring a malformed cache invalidation event")
            return
        if not isinstance(event, dict) or event.get("origin") == self.origin:
            return
        if isinstance(event.get("entity"), str):
            # The publisher already emptied the tag set; drop the keys it found from our L1.
            keys = [k for k in event.get("keys", []) if isinstance(k, str)]
            self._drop_local(keys, self.keys.tag(event["entity"]))
            await self.invalidate_entity(event["entity"], broadcast=False)
        elif isinstance(event.get("operation"), str):
            await self.invalidate_operation(event["operation"], broadcast=False)

    async def start(self) -> None:
        await self.store.listen(self.keys.channel, self._on_event)

    async def aclose(self) -> None:
        for task in list(self._refreshing.values()):
            task.cancel()
        for task in list(self._refreshing.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.store.aclose()

    @property
    def sealer(self) -> Sealer:
        """The AES-GCM keys of this cache, for other secrets kept in its store (sessions)."""
        return self._sealer

    @property
    def redis_client(self) -> Redis | None:
        store = self.store.store
        return store.client if isinstance(store, RedisStore) else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "backend": self.store.store.name,
            "breaker": self.store.breaker.snapshot(),
            "errors": self.store.errors,
            "skipped_while_open": self.store.skipped,
            "local_entries": len(self._local) if self._local is not None else None,
            "operations": {
                op: {name: counts[name] for name in COUNTERS} for op, counts in sorted(self.counters.items())
            },
        }


def build_response_cache(settings: CacheSettings) -> ResponseCache:
    """The cache the settings describe: Redis with an L1 when ``redis_url`` is set, else memory."""
    if settings.redis_url:
        assert settings.hmac_key is not None and settings.active_key_id is not None  # validated in settings
        store: MemoryStore | RedisStore = RedisStore(
            settings.redis_url,
            pool_size=settings.pool_size,
            op_timeout=settings.op_timeout,
            connect_timeout=settings.connect_timeout,
        )
        hmac_key = settings.hmac_key.get_secret_value().encode()
        sealer = Sealer(
            {kid: base64.b64decode(key.get_secret_value()) for kid, key in settings.encryption_keys.items()},
            settings.active_key_id,
        )
        local = LocalCache(settings.l1_entries, settings.l1_ttl) if settings.l1_entries and settings.l1_ttl else None
    else:
        store = MemoryStore(settings.memory_entries)
        hmac_key = settings.hmac_key.get_secret_value().encode() if settings.hmac_key else os.urandom(32)
        sealer = Sealer.ephemeral()
        local = None  # the store is already in-process
    guarded = GuardedStore(store, op_timeout=settings.op_timeout, breaker=settings.breaker)
    return ResponseCache(guarded, CacheKeys(settings.prefix, hmac_key), sealer, settings, local=local)


__all__ = ["CacheResult", "Loaded", "Loader", "ResponseCache", "build_response_cache"]
