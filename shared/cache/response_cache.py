"""Fresh, stale-while-revalidate, stale-if-error and coalescing, per operation.

``get_or_load`` is the whole contract (``fresh_hit`` its synchronous first step)::

    L1 (this process) ─► store (Redis) ─► fresh: serve
                                       ├► stale: serve, refresh once in the background
                                       └► miss: one load per key per process (others wait
                                                on it), one per key across replicas (a short
                                                lock with a token, released only by its
                                                holder; others poll briefly for its result)
    a failed load with a usable stale entry ─► serve stale (stale-if-error)

The L1 holds decoded, validated models: a fresh hit there is a dict lookup, answered
before any await (no task, no time budget, no JSON, no validation, no unsealing). The
time budget and breaker of ``GuardedStore`` guard the store only. Without Redis the L1
is the whole cache (the store then keeps only sessions and limits).

Entries of operations that return PII are sealed (AES-GCM) before they leave the process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shared.cache.connection import AnyRedis, connect
from shared.cache.entry import Entry, EntryError
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.local import Held, LocalCache
from shared.cache.screens import ScreenCache
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
#: Turns a stored body into the object the in-process tier holds (``model_validate_json``).
Parser = Callable[[bytes], Any]
COUNTERS = ("hits", "misses", "stale", "coalesced", "errors", "refreshes")


@dataclass(frozen=True, slots=True)
class CacheResult:
    #: The plain body, when this call has it (a load, a store read without ``parse``).
    body: bytes | None
    #: The validated model: loaded by this call, or held (shared: never mutate it).
    model: Any
    stale: bool
    #: ``hit``, ``stale`` or ``miss`` (this call, or the one it was coalesced onto, loaded).
    outcome: str = "hit"
    #: When the answer stops being fresh, on the cache's wall clock.
    fresh_until: float = 0.0


@dataclass(frozen=True, slots=True)
class _Request:
    """One call past the in-process fresh hit: what a load, a store or a refresh needs."""

    operation: str
    key: str
    policy: CachePolicy
    sealed: bool
    tags: Sequence[str]
    load: Loader
    parse: Parser | None


@dataclass(frozen=True, slots=True)
class _Answer:
    model: Any
    body: bytes | None
    outcome: str
    fresh_until: float


class ResponseCache:
    """``store`` is the network tier (Redis) or, in tests, any store; ``local`` the
    in-process tier. With ``store_entries=False`` (no Redis: the store is this process's
    memory too) entries live in ``local`` alone and the store keeps only the other
    things the process puts there (sessions, rate limits)."""

    def __init__(
        self,
        store: GuardedStore,
        keys: CacheKeys,
        sealer: Sealer,
        settings: CacheSettings,
        *,
        local: LocalCache | None = None,
        screens: ScreenCache | None = None,
        store_entries: bool = True,
        wall_clock: Clock = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not store_entries and local is None:
            raise ValueError("store_entries=False needs a local tier to hold the entries")
        self.store = store
        self.keys = keys
        self._sealer = sealer
        self._settings = settings
        self._local = local
        #: Whole screens made of this cache's entries, dropped with them.
        self.screens = screens if screens is not None else ScreenCache(0)
        self._store_entries = store_entries
        self._wall = wall_clock
        self._sleep = sleep
        self._inflight: dict[str, asyncio.Future[_Answer]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self.counters: dict[str, Counter[str]] = {}
        #: Names this instance in invalidation events, so it skips its own echo.
        self.origin = base64.urlsafe_b64encode(os.urandom(9)).decode()

    def _count(self, operation: str, name: str) -> None:
        counts = self.counters.get(operation)
        if counts is None:
            counts = self.counters[operation] = Counter()
        counts[name] += 1

    def fresh_hit(self, operation: str, key: str) -> Held | None:
        """The in-process fresh entry of ``key``, counted as a hit; ``None`` otherwise.

        Synchronous on purpose: a caller answers a hit without an await, a task, a time
        budget or a parse. Anything else (stale, miss) is ``get_or_load``'s."""
        local = self._local
        if local is None:
            return None
        held: Held | None = local.get(key)
        if held is None or not held.fresh_until > self._wall():
            return None
        self._count(operation, "hits")
        return held

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
        parse: Parser | None = None,
    ) -> CacheResult:
        """The answer for ``key``: fresh, stale (refreshed in the background) or loaded.

        ``parse`` turns a body read from the store into the model the in-process tier
        holds; without it that tier holds (and hits return) the body. A ``parse`` error on
        a stored entry propagates (the caller decides what an unreadable entry is)."""
        found = self.fresh_hit(operation, key)
        if found is not None:
            return CacheResult(found.body, found.model, stale=False, fresh_until=found.fresh_until)
        request = _Request(operation, key, policy, sealed, tags, load, parse)
        held = await self._lookup(request)
        now = self._wall()
        if held is not None and held.fresh(now):
            self._count(operation, "hits")
            return CacheResult(held.body, held.model, stale=False, fresh_until=held.fresh_until)
        if held is not None and held.usable(now) and policy.stale_while_revalidate:
            self._count(operation, "stale")
            self._refresh_in_background(request)
            return CacheResult(held.body, held.model, stale=True, outcome="stale")
        self._count(operation, "misses")
        try:
            answer = await self._load_once(request, deadline)
        except UpstreamError:
            if held is not None and held.usable(self._wall()):
                self._count(operation, "stale")
                return CacheResult(held.body, held.model, stale=True, outcome="stale")
            raise
        return CacheResult(
            answer.body, answer.model, stale=False, outcome=answer.outcome, fresh_until=answer.fresh_until
        )

    async def _lookup(self, request: _Request) -> Held | None:
        if self._local is not None:
            found: Held | None = self._local.get(request.key)
            if found is not None or not self._store_entries:
                return found
        raw = await self.store.get(request.key)
        if raw is None:
            return None
        try:
            entry = Entry.decode(raw)
            body = entry.body
            if entry.sealed:
                body = self._sealer.open(body, request.key.encode())
            elif request.sealed:
                raise EntryError("a PII entry was stored unsealed")
        except (EntryError, SealError) as exc:
            self._count(request.operation, "errors")
            log.warning("cache entry for %s unreadable (%s); treating as a miss", request.operation, exc)
            return None
        held = self._held(request, body, None, entry.stored_at, entry.ttl, entry.stale_ttl)
        self._hold(request.key, held, ())
        return held

    @staticmethod
    def _held(request: _Request, body: bytes, model: Any, stored_at: float, ttl: float, stale_ttl: float) -> Held:
        if model is None and request.parse is not None:
            model = request.parse(body)
        fresh_until = stored_at + ttl
        return Held(model, body if model is None else None, fresh_until, fresh_until + stale_ttl)

    def _hold(self, key: str, held: Held, tags: Sequence[str]) -> None:
        """Keep ``held`` in this process: while fresh in front of a store (which serves
        the stale window itself), to the end of its stale window when alone."""
        if self._local is not None:
            until = held.fresh_until if self._store_entries else held.stale_until
            self._local.put(key, held, until - self._wall(), tags)

    async def _load_once(self, request: _Request, deadline: Deadline) -> _Answer:
        key = request.key
        running = self._inflight.get(key)
        if running is not None:
            self._count(request.operation, "coalesced")
            return await asyncio.shield(running)
        # A fill may have finished while this caller's lookup was in flight.
        just_filled = self._recently_filled(key)
        if just_filled is not None:
            self._count(request.operation, "coalesced")
            return _Answer(just_filled.model, just_filled.body, "hit", just_filled.fresh_until)
        # The fill runs as its own task: a caller that goes away must not cancel the
        # callers coalesced onto it.
        task = asyncio.ensure_future(self._fill(request, deadline))
        self._inflight[key] = task

        def forget(done: asyncio.Future[_Answer]) -> None:
            self._inflight.pop(key, None)
            # Callers that went away (cancelled) leave nobody to read a failure: read it
            # here, or asyncio logs "Task exception was never retrieved" with its traceback.
            if not done.cancelled():
                done.exception()

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _fill(self, request: _Request, deadline: Deadline) -> _Answer:
        if not self._store_entries:
            # This process is the whole cache: ``_inflight`` already makes one load per key.
            body, model = await request.load(deadline)
            held = self._store_locally(request, body, model)
            return _Answer(model, body, "miss", held.fresh_until)
        lock = self.keys.lock(request.key)
        token = await self.store.try_lock(lock, self._settings.lock_ttl)
        if token is False:
            # Another replica is filling this key: give it a moment before calling too.
            waited = await self._wait_for_peer(request, deadline)
            if waited is not None:
                return _Answer(waited.model, waited.body, "hit", waited.fresh_until)
        try:
            body, model = await request.load(deadline)
            held = await self._store(request, body, model)
            return _Answer(model, body, "miss", held.fresh_until)
        finally:
            if token:
                # Frees only our own lock: past lock_ttl another replica may hold it.
                await self.store.unlock(lock, token)

    def _recently_filled(self, key: str) -> Held | None:
        held: Held | None = self._local.get(key) if self._local is not None else None
        return held if held is not None and held.fresh(self._wall()) else None

    async def _wait_for_peer(self, request: _Request, deadline: Deadline) -> Held | None:
        waited = 0.0
        step = 0.01
        budget = min(self._settings.lock_wait, deadline.remaining() / 2)
        while waited < budget:
            await self._sleep(step)
            waited += step
            held = await self._lookup(request)
            if held is not None and held.fresh(self._wall()):
                self._count(request.operation, "coalesced")
                return held
        return None

    async def _store(self, request: _Request, body: bytes, model: Any) -> Held:
        policy, key = request.policy, request.key
        entry = Entry(self._wall(), policy.ttl, policy.stale_ttl, body)
        stored = (
            Entry(entry.stored_at, entry.ttl, entry.stale_ttl, self._sealer.seal(body, key.encode()), sealed=True)
            if request.sealed
            else entry
        )
        tag_keys = [self.keys.tag(tag) for tag in request.tags]
        await self.store.set(key, stored.encode(), policy.ttl + policy.stale_ttl, tag_keys)
        held = self._held(request, body, model, entry.stored_at, entry.ttl, entry.stale_ttl)
        self._hold(key, held, tag_keys)
        return held

    def _store_locally(self, request: _Request, body: bytes, model: Any) -> Held:
        policy = request.policy
        held = self._held(request, body, model, self._wall(), policy.ttl, policy.stale_ttl)
        self._hold(request.key, held, [self.keys.tag(tag) for tag in request.tags])
        return held

    def _refresh_in_background(self, request: _Request) -> None:
        key = request.key
        if key in self._refreshing or key in self._inflight:
            return
        self._count(request.operation, "refreshes")

        async def refresh() -> None:
            deadline = Deadline.after(self._settings.refresh_timeout)
            try:
                await self._load_once(request, deadline)
            except UpstreamError as exc:
                log.info("background refresh of %s failed: %s; the stale entry stays", request.operation, exc)

        task = asyncio.create_task(refresh(), name=f"cache-refresh:{request.operation}")
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    # Invalidation ---------------------------------------------------------------------

    async def invalidate_entity(self, entity: str, *, broadcast: bool = True) -> int:
        """Drop every entry tagged with ``entity`` here and in the store; tell the replicas."""
        tag = self.keys.tag(entity)
        if self._store_entries:
            keys = await self.store.pop_tag(tag)
            deleted = await self.store.delete(keys)
            self._drop_local(keys, tag)
        else:
            keys = []
            deleted = self._drop_local(keys, tag)
        if broadcast:
            event = {"entity": entity, "keys": keys, "origin": self.origin}
            await self.store.publish(self.keys.channel, orjson.dumps(event))
        return deleted

    def _drop_local(self, keys: Sequence[str], tag: str) -> int:
        self.screens.drop([*keys, tag])
        if self._local is None:
            return 0
        return self._local.drop(keys) + self._local.drop_tag(tag)

    async def invalidate_operation(self, operation: str, *, broadcast: bool = True) -> int:
        """Drop every entry of one operation (``catalog.get_product``), found by SCAN."""
        prefix = self.keys.operation_prefix(operation)
        deleted = 0
        if self._store_entries:
            keys = await self.store.keys_with_prefix(prefix)
            deleted = await self.store.delete(keys)
        self.screens.drop_prefix(prefix)
        if self._local is not None:
            dropped = self._local.drop_prefix(prefix)
            deleted = deleted if self._store_entries else dropped
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
        if event.get("resync") is True:
            # This replica was not subscribed for a while (failover, network): events it
            # missed may name anything it holds, so nothing in front of Redis stays.
            if self._local is not None:
                self._local.drop_prefix(f"{self.keys.prefix}:")
            self.screens.clear()
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
    def redis_client(self) -> AnyRedis | None:
        store = self.store.store
        return store.client if isinstance(store, RedisStore) else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "backend": self.store.store.name,
            "breaker": self.store.breaker.snapshot(),
            "errors": self.store.errors,
            "skipped_while_open": self.store.skipped,
            "local_entries": len(self._local) if self._local is not None else None,
            "screens": self.screens.snapshot(),
            "operations": {
                op: {name: counts[name] for name in COUNTERS} for op, counts in sorted(self.counters.items())
            },
        }


def build_response_cache(settings: CacheSettings, *, gzip_min_bytes: int = 500) -> ResponseCache:
    """The cache the settings describe: Redis (one node, Sentinel or Cluster) with an L1
    when ``cache.redis`` or ``cache.redis_url`` is set, else memory.
    ``gzip_min_bytes``: the smallest kept screen served gzipped to a client that asks."""
    redis = settings.redis_settings
    if redis is not None:
        assert settings.hmac_key is not None and settings.active_key_id is not None  # validated in settings
        connection = connect(
            redis,
            pool_size=settings.pool_size,
            op_timeout=settings.op_timeout,
            connect_timeout=settings.connect_timeout,
        )
        store: MemoryStore | RedisStore = RedisStore(connection)
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
        # No network tier: entries live decoded in this process until their stale window
        # ends, at most memory_entries of them; the store keeps sessions and limits only.
        local = LocalCache(settings.memory_entries, math.inf)
    guarded = GuardedStore(store, op_timeout=settings.op_timeout, breaker=settings.breaker)
    return ResponseCache(
        guarded,
        CacheKeys(settings.prefix, hmac_key),
        sealer,
        settings,
        local=local,
        # In front of Redis a screen lives no longer than the L1 holds an entry.
        screens=ScreenCache(
            settings.screen_bytes,
            max_age=settings.l1_ttl if redis is not None else math.inf,
            gzip_min_bytes=gzip_min_bytes,
        ),
        store_entries=redis is not None,
    )


__all__ = ["CacheResult", "Loaded", "Loader", "Parser", "ResponseCache", "build_response_cache"]
