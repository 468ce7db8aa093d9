"""Calling one upstream: the policy pipeline.

For each call, in this fixed order::

    cache (GET with a cache policy: fresh → answer; stale → answer and refresh once in the
      │    background; miss → one load per key, identical concurrent misses wait on it)
    bulkhead (per upstream: a slot, or BulkheadFull after a short wait)
      └─ retry rounds (tenacity: system failures only, full-jitter backoff, Retry-After,
         │             never past the deadline; every extra attempt needs the retry budget)
         └─ regions in failover order (a region whose breaker is open is skipped)
            └─ breaker permit (per upstream × region; bounded half-open probes)
               └─ per-attempt timeout (attempt_timeout, capped by the request deadline)
                  └─ transport
    then the fallbacks: a usable stale cache entry when the load fails (stale-if-error),
    else the caller's (FanOut's default for optional sections).

Hedging (opt-in per operation) runs inside a round: once the first region's attempt has
taken longer than the operation's observed p95, a second attempt goes to the next
admitted region; the first answer wins and the other is cancelled.

The retry budget caps extra load: a retry round's attempts each need it, and so does a
hedge; failing over within the first round does not (each region sees the call once).

A 4xx answer is an answer: it ends the call, is not retried or failed over, and counts
as a success for the breaker. An answer that is not JSON or has the wrong shape counts
as a failure for the breaker (the region is broken) but is not retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
from pydantic import BaseModel, ValidationError

from shared.cache.response_cache import ResponseCache
from shared.deadline import Deadline
from shared.errors import (
    BreakerOpen,
    BulkheadFull,
    TransportConnectError,
    TransportError,
    TransportTimeout,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.fanout import own_task
from shared.http.transport import Transport, UpstreamResponse
from shared.operations import ModelT, Operation
from shared.policy import CallPolicy
from shared.request_context import ScreenRecord, current_request_id, note_stale, screen_record
from shared.resilience.breaker import Breaker, BreakerState, Outcome, Permit
from shared.resilience.budget import RetryBudget
from shared.resilience.bulkhead import Bulkhead
from shared.resilience.latency import LatencyTracker
from shared.resilience.retry import Sleep, is_retryable, retrying
from shared.types import Clock, QueryParams

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Propagated to upstreams: the milliseconds left of the inbound request's deadline.
DEADLINE_HEADER = "X-Request-Deadline-Ms"
_SYSTEM_STATUSES = frozenset({408, 429})
log = logging.getLogger("bff.upstream")


class Attempt(Protocol):
    """One observed attempt: headers to send (trace context), then its outcome."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def finish(self, outcome: str, duration: float, status: int | None = None) -> None: ...


class UpstreamObserver(Protocol):
    """The telemetry seam of the upstream client (see ``shared.telemetry``)."""

    def attempt(self, upstream: str, operation: str, region: str, number: int, breaker_state: str) -> Attempt: ...

    def cached(self, upstream: str, operation: str, outcome: str) -> None: ...


class _Unobserved:
    headers: Mapping[str, str] = {}

    def finish(self, outcome: str, duration: float, status: int | None = None) -> None:
        return None

    def attempt(self, upstream: str, operation: str, region: str, number: int, breaker_state: str) -> Attempt:
        return self

    def cached(self, upstream: str, operation: str, outcome: str) -> None:
        return None


UNOBSERVED = _Unobserved()


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A caller's ``Idempotency-Key`` for one write, and whose it is.

    The upstream never sees the client's key: it gets a keyed hash of (caller, operation,
    key), so two callers (or two operations) that pick the same key never share an entry
    in the upstream's key store, and no user id travels in it. Pass it as
    ``UpstreamClient.call(..., idempotency=IdempotencyKey(user_id, key))``.
    """

    caller: str | int
    key: str


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    base_url: str


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """The resolved, swappable configuration of one upstream."""

    regions: tuple[Region, ...]
    #: Operation name → its effective policy.
    policies: Mapping[str, CallPolicy]
    #: The upstream-wide policy: breaker, bulkhead and retry budget come from here.
    upstream_policy: CallPolicy

    def policy_for(self, operation: Operation[BaseModel]) -> CallPolicy:
        return self.policies.get(operation.name, self.upstream_policy)

    @classmethod
    def uniform(cls, regions: Sequence[Region], policy: CallPolicy | None = None) -> UpstreamConfig:
        """One policy for every operation, e.g. ``UpstreamConfig.uniform([Region("a", url)])``."""
        return cls(tuple(regions), {}, policy or CallPolicy())


@dataclass(slots=True)
class _Call:
    """One inbound call's progress through the pipeline."""

    operation: Operation[Any]
    policy: CallPolicy
    path: str
    params: QueryParams | None
    headers: dict[str, str]
    body: bytes | None
    deadline: Deadline
    repeatable: bool
    attempts: int = 0
    rounds: int = 0
    last_error: UpstreamError | None = None
    stop_retrying: bool = False
    tried: set[str] = field(default_factory=set)

    def should_retry(self, error: BaseException) -> bool:
        return not self.stop_retrying and is_retryable(error)


class UpstreamClient:
    """The runtime handle on one upstream: regions, breakers, bulkhead, retry budget."""

    def __init__(
        self,
        name: str,
        config: UpstreamConfig,
        transport: Transport,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        cache: ResponseCache | None = None,
        observer: UpstreamObserver = UNOBSERVED,
    ) -> None:
        if not config.regions:
            raise ValueError(f"upstream {name!r} needs at least one region")
        self.name = name
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._cache = cache
        # The cache's HMAC key is the same on every replica (required with Redis), so a
        # retry that lands on another replica sends the upstream the same scoped key.
        self._idempotency_secret = cache.keys.secret if cache is not None else os.urandom(32)
        self._observer = observer
        self._config = config
        self.retries = 0
        self.breakers: dict[str, Breaker] = {}
        self.bulkhead = Bulkhead(config.upstream_policy.bulkhead)
        self.budget = RetryBudget(config.upstream_policy.retry, clock)
        self.latency: dict[str, LatencyTracker] = {}
        #: (operation, region) → answers served from that region.
        self.served: Counter[tuple[str, str]] = Counter()
        self._cache_facts: dict[str, _CacheFacts] = {}
        self.reconfigure(config)

    @property
    def config(self) -> UpstreamConfig:
        return self._config

    @property
    def regions(self) -> tuple[Region, ...]:
        return self._config.regions

    def reconfigure(self, config: UpstreamConfig) -> None:
        """Swap in a new configuration between calls. Calls already running finish on the
        snapshot they started with; breakers keep their state and take the new thresholds."""
        upstream_policy = config.upstream_policy
        for region in config.regions:
            breaker = self.breakers.get(region.name)
            if breaker is None:
                self.breakers[region.name] = Breaker(f"{self.name}@{region.name}", upstream_policy.breaker, self._clock)
            else:
                breaker.policy = upstream_policy.breaker
        if upstream_policy.bulkhead != self.bulkhead.policy:
            self.bulkhead = Bulkhead(upstream_policy.bulkhead)  # running calls release the old one
        self.budget.policy = upstream_policy.retry
        self._config = config

    async def call(
        self,
        operation: Operation[ModelT],
        *,
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
        params: QueryParams | None = None,
        json: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        cache_user: str | int | None = None,
        idempotency: IdempotencyKey | None = None,
    ) -> ModelT:
        """Call ``operation`` through the pipeline and return its validated answer.

        ``json`` is sent as a JSON body, ``form`` as an ``application/x-www-form-urlencoded``
        one (OAuth token endpoints want that). ``cache_user`` names the caller for
        operations cached per user; without it such an operation is not cached at all.
        ``idempotency`` carries a client's ``Idempotency-Key``: it goes upstream scoped to
        the caller and the operation (see ``IdempotencyKey``), and makes a write repeatable.
        Raises an ``UpstreamError`` subclass when no usable answer could be had (not even
        a stale one).
        """
        if form is not None:
            json = _Form(form)
        if idempotency is not None:
            headers = {**(headers or {}), IDEMPOTENCY_HEADER: self.scoped_idempotency_key(operation, idempotency)}
        config = self._config  # one snapshot for the whole call (hot reload swaps it)
        policy = config.policy_for(operation)
        cache_policy = policy.cache
        cache = self._cache
        if (
            cache is None
            or cache_policy.ttl <= 0
            or operation.method != "GET"
            or (cache_policy.scope == "user" and cache_user is None)
        ):
            record = screen_record()
            if record is not None:  # an answer the cache does not hold: no screen can keep it
                record.cacheable = False
            await own_task()  # what follows binds to its task (timeouts)
            return await self._call_upstream(operation, policy, config, deadline, path_params, params, json, headers)
        facts = self._cache_facts.get(operation.name)
        if facts is None or facts.operation is not operation:
            facts = self._cache_facts[operation.name] = _CacheFacts.of(operation)
        # The key is derived once per call; every tier and the fill lock use it.
        user = str(cache_user) if cache_policy.scope == "user" else None
        key = cache.keys.entry(facts.key, facts.schema_version, {"path": path_params, "query": params}, user)
        held = cache.fresh_hit(facts.key, key)
        if held is not None:  # the hot path: a dict lookup, no await
            self._observer.cached(self.name, operation.name, "hit")
            record = screen_record()
            if record is not None:
                self._record(record, cache, operation, key, path_params, params, held.fresh_until, user)
            if held.model is not None:
                hit: ModelT = held.model
                return hit
            return self._parse_cached(operation, held.body or b"")

        await own_task()  # past the in-process hit, everything binds to its task (timeouts)

        async def load(load_deadline: Deadline) -> tuple[bytes, Any]:
            model = await self._call_upstream(
                operation, policy, config, load_deadline, path_params, params, json, headers
            )
            return model.__pydantic_serializer__.to_json(model), model

        try:
            result = await cache.get_or_load(
                operation=facts.key,
                key=key,
                policy=cache_policy,
                sealed=facts.sealed,
                tags=operation.cache_tags(path_params, params),
                deadline=deadline,
                load=load,
                parse=operation.parse,
            )
        except ValidationError as exc:  # an entry written by an older model: treat as garbage
            raise UpstreamBadResponse(self.name, operation.name, "cached entry does not parse") from exc
        if result.stale:
            note_stale(facts.key)
        else:
            record = screen_record()
            if record is not None:
                self._record(record, cache, operation, key, path_params, params, result.fresh_until, user)
        self._observer.cached(self.name, operation.name, result.outcome)
        if result.model is not None:
            model: ModelT = result.model
            return model
        return self._parse_cached(operation, result.body or b"")

    @staticmethod
    def _record(
        record: ScreenRecord,
        cache: ResponseCache,
        operation: Operation[Any],
        key: str,
        path_params: Mapping[str, str | int] | None,
        params: QueryParams | None,
        fresh_until: float,
        user: str | None,
    ) -> None:
        """Note for the screen cache that this request's answer holds the entry ``key``."""
        tags = [cache.keys.tag(tag) for tag in operation.cache_tags(path_params, params)]
        record.depends_on(key, tags, fresh_until, per_user=user is not None)

    def _parse_cached(self, operation: Operation[ModelT], body: bytes) -> ModelT:
        try:
            return operation.parse(body)
        except ValidationError as exc:  # an entry written by an older model: treat as garbage
            raise UpstreamBadResponse(self.name, operation.name, "cached entry does not parse") from exc

    def scoped_idempotency_key(self, operation: Operation[Any], idempotency: IdempotencyKey) -> str:
        """The key the upstream sees: HMAC-SHA256 of (operation, caller, client key), 64 hex
        characters (within the 1-128 of A-Z, a-z, 0-9, '_', '-' that upstreams accept)."""
        # Length-prefixed parts, so no choice of key can make two different triples collide.
        parts = (b"idempotency", operation.key.encode(), str(idempotency.caller).encode(), idempotency.key.encode())
        message = b"".join(len(part).to_bytes(4, "big") + part for part in parts)
        return hmac.new(self._idempotency_secret, message, hashlib.sha256).hexdigest()

    async def invalidate(self, *entities: str) -> None:
        """Drop cached answers about ``entities`` (e.g. after a write changed them), here
        and, through the cache's pub/sub, in every replica."""
        if self._cache is not None:
            for entity in entities:
                await self._cache.invalidate_entity(entity)

    async def _call_upstream(
        self,
        operation: Operation[ModelT],
        policy: CallPolicy,
        config: UpstreamConfig,
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None,
        params: QueryParams | None,
        json: object,
        headers: Mapping[str, str] | None,
    ) -> ModelT:
        if isinstance(json, _Form):
            body: bytes | None = urlencode(json.fields).encode()
            send_headers = _headers(headers, content_type=FORM_MEDIA_TYPE)
        else:
            body = orjson.dumps(json) if json is not None else None
            send_headers = _headers(headers, content_type="application/json" if body is not None else None)
        call = _Call(
            operation=operation,
            policy=policy,
            path=operation.render_path(path_params),
            params=params,
            headers=send_headers,
            body=body,
            deadline=deadline,
            repeatable=operation.idempotent or IDEMPOTENCY_HEADER in send_headers,
        )
        bulkhead = self.bulkhead
        if not await bulkhead.acquire():
            raise BulkheadFull(self.name, operation.name, f"{bulkhead.policy.max_concurrent} calls already in flight")
        self.budget.record_call()
        try:
            result: ModelT = await self._with_retries(call, config)
            return result
        finally:
            bulkhead.release()

    async def _with_retries(self, call: _Call, config: UpstreamConfig) -> Any:
        """The first round runs directly (the common, healthy case pays nothing for
        retries); only a retryable failure hands the remaining rounds to tenacity."""
        try:
            return await self._round(call, config)
        except UpstreamError as exc:
            policy = call.policy
            if policy.retry.attempts == 1 or not call.repeatable or not call.should_retry(exc):
                raise
            first_failure: UpstreamError | None = exc

        async def next_round() -> Any:
            nonlocal first_failure
            if first_failure is not None:  # tenacity's attempt 1 is the round already made
                failure, first_failure = first_failure, None
                raise failure
            self.retries += 1
            return await self._round(call, config)

        controller = retrying(
            policy.retry,
            call.deadline,
            should_retry=call.should_retry,
            sleep=self._sleep,
            rng=self._rng,
            reserve=policy.connect_timeout,
        )
        return await controller(next_round)

    async def _round(self, call: _Call, config: UpstreamConfig) -> Any:
        """One pass over the regions in failover order; the first usable answer wins."""
        regions = config.regions if (call.policy.failover and call.repeatable) else config.regions[:1]
        call.tried = set()
        call.rounds += 1
        admitted = False
        for index, region in enumerate(regions):
            if region.name in call.tried:
                continue
            if call.deadline.expired:
                break
            breaker = self.breakers[region.name]
            permit = breaker.try_acquire()
            if permit is None:
                continue
            # Failover within the first round is free (each region sees the call once);
            # every attempt of a retry round is extra load and needs the budget.
            if call.rounds > 1 and not self.budget.try_spend():
                breaker.record(permit, Outcome.IGNORED, 0.0)
                call.stop_retrying = True
                log.info("%s.%s: retry budget exhausted", self.name, call.operation.name)
                break
            admitted = True
            call.attempts += 1
            call.tried.add(region.name)
            try:
                if self._may_hedge(call, regions[index + 1 :]):
                    return await self._hedged(call, region, breaker, permit, regions[index + 1 :])
                return await self._attempt(call, region, breaker, permit)
            except UpstreamError as exc:
                if not exc.is_system_failure:
                    raise
                call.last_error = exc
        if call.last_error is not None:
            # Nothing admitted now (breakers opened, or no budget): report the real failure
            # and stop; retrying into open breakers is what breakers exist to prevent.
            call.stop_retrying = call.stop_retrying or not admitted
            raise call.last_error
        if call.deadline.expired:
            raise UpstreamTimeout(self.name, call.operation.name, "request deadline exceeded") from call.last_error
        raise BreakerOpen(self.name, call.operation.name, "every region's circuit breaker is open") from call.last_error

    def _may_hedge(self, call: _Call, others: Sequence[Region]) -> bool:
        hedge = call.policy.hedge
        if not (hedge.enabled and call.repeatable and call.policy.failover and others):
            return False
        tracker = self.latency.get(call.operation.name)
        return tracker is not None and len(tracker) >= hedge.min_samples

    async def _hedged(
        self, call: _Call, region: Region, breaker: Breaker, permit: Permit, others: Sequence[Region]
    ) -> Any:
        hedge = call.policy.hedge
        observed = self.latency[call.operation.name].quantile(hedge.quantile) or 0.0
        first: asyncio.Future[Any] = asyncio.ensure_future(self._attempt(call, region, breaker, permit))
        # The hedge waits on the injected sleep, so its trigger is testable on a manual clock.
        timer = asyncio.ensure_future(self._sleep(max(hedge.min_delay, observed)))
        try:
            await asyncio.wait({first, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if first.done():
            return first.result()
        second = self._start_hedge(call, others)
        if second is None:
            return await first
        pending: set[asyncio.Future[Any]] = {first, second}
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is None:
                        return task.result()
                    if not (isinstance(error, UpstreamError) and error.is_system_failure):
                        raise error
                    call.last_error = error
            assert call.last_error is not None
            raise call.last_error
        finally:
            for task in pending:
                task.cancel()

    def _start_hedge(self, call: _Call, others: Sequence[Region]) -> asyncio.Future[Any] | None:
        for region in others:
            breaker = self.breakers[region.name]
            permit = breaker.try_acquire()
            if permit is None:
                continue
            if not self.budget.try_spend():
                breaker.record(permit, Outcome.IGNORED, 0.0)
                call.stop_retrying = True
                return None
            call.attempts += 1
            call.tried.add(region.name)
            log.debug("%s.%s: hedging to %s", self.name, call.operation.name, region.name)
            return asyncio.ensure_future(self._attempt(call, region, breaker, permit))
        return None

    async def _attempt(self, call: _Call, region: Region, breaker: Breaker, permit: Permit) -> Any:
        policy = call.policy
        timeout = call.deadline.cap(policy.attempt_timeout)
        capped = timeout < policy.attempt_timeout
        # A permit is only issued by a closed breaker, or a half-open one (a probe).
        breaker_state = BreakerState.HALF_OPEN.value if permit.probe else BreakerState.CLOSED.value
        observed = self._observer.attempt(self.name, call.operation.name, region.name, call.attempts, breaker_state)
        started = permit.started  # the breaker's clock reading when it admitted the call
        outcome = Outcome.IGNORED
        label = "cancelled"
        status: int | None = None
        try:
            if timeout <= 0:
                raise UpstreamTimeout(self.name, call.operation.name, "request deadline exceeded", region=region.name)
            response = await self._send(call, region, timeout, observed.headers)
            status = response.status
            result = self._answer(call.operation, region, response)
            outcome, label = Outcome.SUCCESS, "success"
            self.served[(call.operation.name, region.name)] += 1
            return result
        except UpstreamRejected:
            outcome, label = Outcome.SUCCESS, "rejected"  # an answer: the region is healthy
            raise
        except UpstreamTimeout:
            # Cut short by the request's deadline rather than the attempt timeout: not the region's fault.
            outcome, label = (Outcome.IGNORED if capped else Outcome.FAILURE), "timeout"
            raise
        except UpstreamError as exc:
            outcome, label = Outcome.FAILURE, _OUTCOME_LABELS.get(type(exc), "failed")
            raise
        finally:
            duration = self._clock() - started
            breaker.record(permit, outcome, duration)
            observed.finish(label, duration, status)
            if outcome is Outcome.SUCCESS:
                tracker = self.latency.get(call.operation.name)
                if tracker is None:
                    tracker = self.latency[call.operation.name] = LatencyTracker()
                tracker.observe(duration)

    async def _send(
        self, call: _Call, region: Region, timeout: float, trace_headers: Mapping[str, str]
    ) -> UpstreamResponse:
        operation = call.operation
        headers = {**call.headers, DEADLINE_HEADER: str(int(call.deadline.remaining() * 1000)), **trace_headers}
        try:
            return await self._transport.send(
                operation.method,
                region.base_url + call.path,
                params=call.params,
                headers=headers,
                body=call.body,
                connect_timeout=min(call.policy.connect_timeout, timeout),
                timeout=timeout,
            )
        except TransportTimeout as exc:
            raise UpstreamTimeout(self.name, operation.name, str(exc), region=region.name) from exc
        except TransportConnectError as exc:
            raise UpstreamUnavailable(self.name, operation.name, f"cannot connect: {exc}", region=region.name) from exc
        except TransportError as exc:
            raise UpstreamUnavailable(
                self.name, operation.name, f"connection failed: {exc}", region=region.name
            ) from exc

    def _answer(self, operation: Operation[ModelT], region: Region, response: UpstreamResponse) -> ModelT:
        status = response.status
        if 200 <= status < 300:
            try:
                return operation.parse(response.body)
            except ValidationError as exc:
                reason = f"answer does not match {operation.response.__name__}: {exc.error_count()} error(s)"
                raise UpstreamBadResponse(self.name, operation.name, reason, region=region.name) from exc
        if status >= 500 or status in _SYSTEM_STATUSES:
            raise UpstreamStatusError(
                self.name, operation.name, status, region=region.name, retry_after=_retry_after(response)
            )
        if 400 <= status < 500:
            raise UpstreamRejected(self.name, operation.name, status, _error_code(response.body), region=region.name)
        raise UpstreamBadResponse(self.name, operation.name, f"unexpected HTTP {status}", region=region.name)


_OUTCOME_LABELS: dict[type[UpstreamError], str] = {
    UpstreamUnavailable: "unavailable",
    UpstreamStatusError: "failed",
    UpstreamBadResponse: "bad_response",
}


@dataclass(frozen=True, slots=True)
class _CacheFacts:
    """What the cache needs of an operation, worked out once per client, not per call."""

    operation: Operation[Any]
    key: str
    schema_version: str
    sealed: bool

    @classmethod
    def of(cls, operation: Operation[Any]) -> _CacheFacts:
        return cls(operation, operation.key, operation.schema_version, bool(operation.pii_fields))


@dataclass(frozen=True, slots=True)
class _Form:
    """A form body on its way to ``_call_upstream`` (which otherwise sends JSON)."""

    fields: Mapping[str, str]


FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _headers(extra: Mapping[str, str] | None, *, content_type: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    request_id = current_request_id()
    if request_id:
        headers["X-Request-Id"] = request_id
    if extra:
        headers.update(extra)
    return headers


def _error_code(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: UpstreamResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


__all__ = [
    "DEADLINE_HEADER",
    "IDEMPOTENCY_HEADER",
    "UNOBSERVED",
    "Attempt",
    "IdempotencyKey",
    "Region",
    "UpstreamClient",
    "UpstreamConfig",
    "UpstreamObserver",
]
