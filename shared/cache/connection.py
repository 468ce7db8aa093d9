"""The one way to Redis: every user (the cache, its fill lock, rate limits, sessions,
invalidation events) gets its client here, built from ``cache.redis``.

redis-py does the routing and the failover; nothing here second-guesses it::

    single    redis.asyncio.Redis            one node (redis://, rediss://, unix://)
    sentinel  Sentinel(...).master_for(...)  asks the Sentinels for the primary on every
                                             new connection; a demoted primary's READONLY
                                             drops the connection, so the next one finds
                                             the promoted replica
    cluster   redis.asyncio.RedisCluster     routes each key by slot, follows MOVED/ASK and
                                             refreshes its slot map when a node fails

Invalidation events travel on pub/sub: ``PUBLISH``/``SUBSCRIBE`` on one node or a
Sentinel's primary, sharded ``SPUBLISH``/``SSUBSCRIBE`` on a Cluster (Redis 7), where a
classic ``PUBLISH`` is copied to every node of the cluster over its bus and a sharded one
only to the replicas of the shard that owns the channel (docs/sre-guide.md, "Redis").

``subscribe`` yields ``None`` each time the subscription is (re)established and the
payload of each event. redis-py reconnects and resubscribes a dropped subscription on its
own, silently; the server's subscribe confirmation is the one sign that events published
meanwhile were lost, so at each ``None`` the caller drops what it holds in front of Redis
(at the first there is nothing yet to drop).
A connection that stays silent (half-open, a partitioned node) is found by a ``PING``
every ``heartbeat`` seconds: no answer for three of them and the subscription is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.cluster import LoadBalancingStrategy
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.settings import RedisSettings

log = logging.getLogger("bff.cache")
Topology = Literal["single", "sentinel", "cluster"]
AnyRedis = Redis | RedisCluster


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (asks for the primary) that waits for a free connection instead of
    failing at once: a cold stampede queues within the time budget, as on one node."""


class _Cluster(RedisCluster):
    """redis-py's ``RedisCluster`` with two gaps of redis-py 8.1 closed, routing untouched:

    * initialised before its first command runs. Left lazy, commands racing the first
      initialisation can find their new connection torn down (``'NoneType' object has no
      attribute 'writelines'``: 14 of 20 concurrent first ``SET NX`` failed so);
    * at most ``in_flight`` commands at once, the rest waiting their turn (within the
      caller's budget). Its per-node pools do not wait: a burst on one hot key past
      ``max_connections`` fails at once with ``MaxConnectionsError`` (38 of 100 did in
      the stampede test), as a non-blocking pool on one node would."""

    def __init__(self, *args: Any, in_flight: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = asyncio.Semaphore(in_flight)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.in_flight:
            if self._initialize:
                await self.initialize()
            return await super().execute_command(*args, **kwargs)


class RedisConnection:
    """A client for ``settings``'s topology; ``reader`` serves lookups (a replica only
    with ``read_from_replicas``), ``client`` everything else. ``events`` counts what the
    subscription saw: ``resubscribed`` (a blind spot ended) and ``primary_changed``."""

    def __init__(self, settings: RedisSettings, *, pool_size: int, op_timeout: float, connect_timeout: float) -> None:
        self.topology: Topology = settings.topology
        self.events: Counter[str] = Counter()
        self._sentinel: Sentinel | None = None
        self._reader: Redis | None = None
        #: The node the last subscription was confirmed by (``None`` before the first).
        self._subscribed_at: str | None = None
        auth: dict[str, Any] = {}
        if settings.username is not None:
            auth["username"] = settings.username
        if settings.password is not None:
            auth["password"] = settings.password.get_secret_value()
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": settings.tls_ca_file} if settings.tls else {}
        timeouts: dict[str, Any] = {"socket_timeout": op_timeout, "socket_connect_timeout": connect_timeout}
        self.client: AnyRedis
        if settings.cluster is not None:
            self.client = _Cluster(
                startup_nodes=[ClusterNode(*_split(node)) for node in settings.cluster.nodes],
                # Per node; never reached, since at most pool_size commands run at once.
                max_connections=pool_size,
                in_flight=pool_size,
                # Reads round-robin over a shard's replicas only when asked; else its primary.
                load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS
                if settings.read_from_replicas
                else None,
                **timeouts,
                **auth,
                **tls,
            )
        elif settings.sentinel is not None:
            sentinel = settings.sentinel
            sentinel_auth: dict[str, Any] = {}
            if sentinel.username is not None:
                sentinel_auth["username"] = sentinel.username
            if sentinel.password is not None:
                sentinel_auth["password"] = sentinel.password.get_secret_value()
            self._sentinel = Sentinel(  # type: ignore[no-untyped-call]  # unannotated in redis-py
                [_split(address) for address in sentinel.sentinels],
                sentinel_kwargs={**timeouts, **sentinel_auth, **tls},
                **timeouts,
                **auth,
                **tls,
            )
            self.client = self._sentinel.master_for(
                sentinel.service_name,
                redis_class=Redis,
                connection_pool_class=_BlockingSentinelPool,
                db=settings.db,
                max_connections=pool_size,
                timeout=op_timeout,
            )
            if settings.read_from_replicas:
                self._reader = self._sentinel.slave_for(sentinel.service_name, redis_class=Redis, db=settings.db)
        else:
            assert settings.url is not None  # validated: exactly one topology
            tls_options = {"ssl_ca_certs": settings.tls_ca_file} if settings.tls_ca_file is not None else {}
            # A burst of more concurrent operations than connections (a cold stampede: the
            # very case the fill lock is for) waits for a free connection within the budget,
            # rather than failing at once with MaxConnectionsError and tripping the breaker.
            pool_of_one = BlockingConnectionPool.from_url(
                settings.url, max_connections=pool_size, timeout=op_timeout, **timeouts, **tls_options
            )
            # After the URL's own: from_url lets the URL win, and the environment's ACL
            # user and password must (the URL may carry an old one).
            pool_of_one.connection_kwargs.update(auth)
            self.client = Redis.from_pool(pool_of_one)

    @property
    def subscribed_at(self) -> str | None:
        """``host:port`` of the node that confirmed the latest subscription (``None``: none yet)."""
        return self._subscribed_at

    async def open(self, timeout: float = 2.0) -> None:
        """Learn a Cluster's slot map now, at start, rather than in the first requests'
        time budgets (the first ``initialize`` reads ``COMMAND``: tens of ms of parsing).
        A Redis that does not answer is no reason not to start: the cache waits."""
        if isinstance(self.client, RedisCluster):
            try:
                async with asyncio.timeout(timeout):
                    await self.client.initialize()
            except Exception as exc:  # Redis down at start: requests go on without it
                log.warning("Redis Cluster not reachable at start (%s); the cache will retry", exc)

    async def refresh(self) -> None:
        """Ask a Cluster for its slot map again (redis-py's own ``NodesManager``), after the
        subscription lost its node: until a command fails over a slot, redis-py would
        still send the channel's ``SSUBSCRIBE`` to the dead primary."""
        if isinstance(self.client, RedisCluster):
            with contextlib.suppress(Exception):  # no node answers yet: the next try asks again
                await self.client.nodes_manager.initialize()

    def turn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held around a Cluster pipeline, which bypasses the command limit of ``_Cluster``."""
        if isinstance(self.client, _Cluster):
            return self.client.in_flight
        return contextlib.nullcontext()

    @property
    def reader(self) -> AnyRedis:
        return self._reader if self._reader is not None else self.client

    def script(self, source: str) -> AsyncScript:
        """A Lua script run by ``EVALSHA`` (loaded again where a node lacks it: a promoted
        replica's script cache starts empty). Every key it touches must share a slot."""
        return self.client.register_script(source)

    async def publish(self, channel: str, message: bytes) -> None:
        if isinstance(self.client, RedisCluster):
            await self.client.spublish(channel, message)
        else:
            await self.client.publish(channel, message)

    async def subscribe(self, channel: str, *, heartbeat: float = 1.0) -> AsyncIterator[bytes | None]:
        """``None`` at each (re)subscription, then each event's payload; raises when the
        subscription is lost for good (the caller subscribes again)."""
        sharded = isinstance(self.client, RedisCluster)
        if isinstance(self.client, RedisCluster):
            await self.client.initialize()  # the channel's shard comes from the slot map
        pubsub: Any = self.client.pubsub()
        read: Callable[[float], Awaitable[dict[str, Any] | None]]
        if sharded:
            await pubsub.ssubscribe(channel)
            confirmation, payload = "ssubscribe", "smessage"

            def read(timeout: float) -> Awaitable[dict[str, Any] | None]:
                return pubsub.get_sharded_message(timeout=timeout)  # type: ignore[no-any-return]

            def connections() -> list[PubSub]:
                return list(pubsub.node_pubsub_mapping.values())
        else:
            await pubsub.subscribe(channel)
            confirmation, payload = "subscribe", "message"

            def read(timeout: float) -> Awaitable[dict[str, Any] | None]:
                return pubsub.get_message(timeout=timeout)  # type: ignore[no-any-return]

            def connections() -> list[PubSub]:
                return [pubsub]

        heard = time.monotonic()
        try:
            while True:
                message = await read(heartbeat)
                now = time.monotonic()
                if message is None:
                    if now - heard > 3 * heartbeat:
                        raise RedisConnectionError(f"no answer on the subscription to {channel} for {now - heard:.1f}s")
                    for connection in connections():
                        await connection.ping()
                    continue
                heard = now
                kind = message["type"]
                if isinstance(kind, bytes):
                    kind = kind.decode()
                if kind == confirmation:
                    node = self._node_of(connections())
                    if self._subscribed_at is not None:
                        self.events["resubscribed"] += 1
                        if node != self._subscribed_at:
                            self.events["primary_changed"] += 1
                    self._subscribed_at = node
                    yield None
                elif kind == payload:
                    yield message["data"]
        finally:
            await pubsub.aclose()

    @staticmethod
    def _node_of(connections: list[PubSub]) -> str | None:
        for pubsub in connections:
            connection = pubsub.connection
            if connection is not None:
                return f"{getattr(connection, 'host', '?')}:{getattr(connection, 'port', '?')}"
        return None

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._reader is not None:
            await self._reader.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def connect(settings: RedisSettings, *, pool_size: int, op_timeout: float, connect_timeout: float) -> RedisConnection:
    """The client for ``settings`` (nothing connects until the first command)."""
    return RedisConnection(settings, pool_size=pool_size, op_timeout=op_timeout, connect_timeout=connect_timeout)


__all__ = ["AnyRedis", "RedisConnection", "Topology", "connect"]
