"""What a cache hit costs, counted (never timed): an in-process fresh hit is a dict lookup.

No task, no time budget or breaker (no store operation at all), no JSON parse, no pydantic
validation, no unsealing; a hit read from the store is decoded once, then held. Both
shapes of the in-process tier are covered: alone (no Redis: the whole cache) and in front
of a shared store (Redis; here a memory store standing in for it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel

from shared import CachePolicy, CallPolicy, Deadline, Operation, Region, RetryPolicy, UpstreamClient, UpstreamConfig
from shared.cache import build_response_cache
from shared.cache.guarded import GuardedStore
from shared.cache.keys import CacheKeys
from shared.cache.local import LocalCache
from shared.cache.response_cache import ResponseCache
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.http.httpx_transport import HttpxTransport
from shared.pii import PII
from shared.policy import BreakerPolicy
from shared.settings import CacheSettings
from tests.shared.resilience.clock import ManualClock

T = TypeVar("T")
KEYS = CacheKeys("t", b"k" * 32)
POLICY = CallPolicy(retry=RetryPolicy(attempts=1), cache=CachePolicy(ttl=10, stale_ttl=60, scope="user"))


class Person(BaseModel):
    id: int
    email: Annotated[str, PII]


GET_PERSON = Operation(
    upstream="people",
    name="get_person",
    method="GET",
    path="/people/{person_id}",
    response=Person,
    idempotent=True,
    tags=lambda path, _: [f"person:{path['person_id']}"],
)


class CountingGuard(GuardedStore):
    """Every store operation passes ``run``: the time budget and the breaker."""

    runs = 0

    async def run(self, operation: Callable[[], Awaitable[T]], fallback: T, *, budget: float | None = None) -> T:
        self.runs += 1
        return await super().run(operation, fallback, budget=budget)


class CountingSealer(Sealer):
    opened = 0

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        self.opened += 1
        return super().open(sealed, aad)


@dataclass
class Work:
    """What one stretch of calls did."""

    tasks: int = 0
    parses: int = 0
    upstream_requests: int = 0
    users_asked: list[int] = field(default_factory=list)


@dataclass
class Replica:
    client: UpstreamClient
    cache: ResponseCache
    guard: CountingGuard
    sealer: CountingSealer
    work: Work


def replica(store: MemoryStore, *, alone: bool, wall: ManualClock, work: Work | None = None) -> Replica:
    """A client and its cache: the L1 ``alone`` (no Redis), or in front of ``store``."""
    work = work or Work()

    def handler(request: httpx.Request) -> httpx.Response:
        work.upstream_requests += 1
        person_id = int(request.url.path.rsplit("/", 1)[1])
        work.users_asked.append(person_id)
        return httpx.Response(200, json={"id": person_id, "email": f"p{person_id}@example.com"})

    guard = CountingGuard(store, op_timeout=1, breaker=BreakerPolicy())
    sealer = CountingSealer({"k1": b"s" * 32}, "k1")
    local = LocalCache(100, math.inf) if alone else LocalCache(100, 1.0)
    cache = ResponseCache(guard, KEYS, sealer, CacheSettings(), local=local, store_entries=not alone, wall_clock=wall)
    config = UpstreamConfig.uniform([Region("a", "http://a")], POLICY)
    transport = HttpxTransport(transport=httpx.MockTransport(handler))
    return Replica(UpstreamClient("people", config, transport, cache=cache), cache, guard, sealer, work)


async def get(client: UpstreamClient, person_id: int, user: int | None = None) -> Person:
    return await client.call(
        GET_PERSON,
        path_params={"person_id": person_id},
        cache_user=person_id if user is None else user,
        deadline=Deadline.after(5),
    )


@contextmanager
def counting(work: Work, monkeypatch: pytest.MonkeyPatch) -> Iterator[Work]:
    """Count tasks created (any way: create_task, ensure_future, wait_for) and JSON validations."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Task[Any]:
        work.tasks += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    validate = Person.model_validate_json

    def parse(json_data: bytes | str, **kwargs: Any) -> Person:
        work.parses += 1
        return validate(json_data, **kwargs)

    monkeypatch.setattr(Person, "model_validate_json", parse)
    loop.set_task_factory(factory)  # type: ignore[arg-type]  # typeshed wants the exact signature
    try:
        yield work
    finally:
        loop.set_task_factory(previous)
        monkeypatch.undo()


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-front-of-a-store"])
async def test_an_in_process_fresh_hit_does_no_work(alone: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    wall = ManualClock()
    people = replica(MemoryStore(100), alone=alone, wall=wall)
    first = await get(people.client, 7)
    wall.advance(9.9)
    runs, opened = people.guard.runs, people.sealer.opened
    with counting(Work(), monkeypatch) as work:
        answers = [await get(people.client, 7) for _ in range(50)]
    assert work.tasks == 0
    assert work.parses == 0
    assert people.guard.runs == runs  # no store operation, so no time budget and no breaker
    assert people.sealer.opened == opened
    assert people.work.upstream_requests == 1
    assert all(answer is first for answer in answers)  # the held model itself: shared, read-only
    assert people.cache.counters["people.get_person"]["hits"] == 50


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-front-of-a-store"])
async def test_an_in_process_fresh_hit_is_answered_without_suspending(alone: bool) -> None:
    people = replica(MemoryStore(100), alone=alone, wall=ManualClock())
    first = await get(people.client, 7)
    call = get(people.client, 7)
    with pytest.raises(StopIteration) as finished:
        call.send(None)  # one step of the coroutine runs it to the end: no await suspended it
    assert finished.value.value is first


async def test_an_entry_read_from_the_store_is_unsealed_and_validated_once_then_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall = ManualClock()
    shared_store = MemoryStore(100)
    await get(replica(shared_store, alone=False, wall=wall).client, 7)  # another replica fills it
    here = replica(shared_store, alone=False, wall=wall)
    with counting(Work(), monkeypatch) as work:
        answers = [await get(here.client, 7) for _ in range(20)]
    assert here.work.upstream_requests == 0
    assert (work.parses, here.sealer.opened, here.guard.runs) == (1, 1, 1)
    assert work.tasks == 0
    assert all(answer is answers[0] for answer in answers)
    raw = await shared_store.get(KEYS.entry("people.get_person", GET_PERSON.schema_version, _params(7), "7"))
    assert raw is not None and b"example.com" not in raw  # sealed at rest in the shared store


async def test_past_its_l1_age_an_entry_is_read_from_the_store_again() -> None:
    wall = ManualClock()
    shared_store = MemoryStore(100)
    people = replica(shared_store, alone=False, wall=wall)
    await get(people.client, 7)
    local = people.cache._local
    assert local is not None
    local._clock = lambda: math.inf  # the L1's 1 s bound has passed
    runs = people.guard.runs
    await get(people.client, 7)
    assert people.guard.runs == runs + 1
    assert people.work.upstream_requests == 1


def _params(person_id: int) -> dict[str, Any]:
    return {"path": {"person_id": person_id}, "query": None}


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-front-of-a-store"])
async def test_a_users_held_entry_is_never_served_to_another_user(alone: bool) -> None:
    people = replica(MemoryStore(100), alone=alone, wall=ManualClock())
    mine = await get(people.client, 7, user=7)
    theirs = await get(people.client, 7, user=8)
    assert people.work.upstream_requests == 2
    assert mine is not theirs
    assert await get(people.client, 7, user=8) is theirs


async def test_alone_a_stale_entry_is_served_from_memory_and_refreshed_once() -> None:
    wall = ManualClock()
    people = replica(MemoryStore(100), alone=True, wall=wall)
    first = await get(people.client, 7)
    wall.advance(11)
    stale = await asyncio.gather(*(get(people.client, 7) for _ in range(10)))
    assert all(answer is first for answer in stale)
    await asyncio.sleep(0.01)
    assert people.work.upstream_requests == 2
    assert people.cache.counters["people.get_person"]["refreshes"] == 1
    assert await get(people.client, 7) is not first  # the refreshed entry


async def test_alone_an_entry_past_its_stale_window_is_loaded_again() -> None:
    wall = ManualClock()
    people = replica(MemoryStore(100), alone=True, wall=wall)
    await get(people.client, 7)
    wall.advance(71)
    await get(people.client, 7)
    assert people.work.upstream_requests == 2


async def test_alone_entries_are_not_written_to_the_store() -> None:
    store = MemoryStore(100)
    people = replica(store, alone=True, wall=ManualClock())
    await get(people.client, 7)
    assert await store.keys_with_prefix("t:") == []
    assert people.guard.runs == 0


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-front-of-a-store"])
async def test_invalidating_an_entity_drops_the_held_entry(alone: bool) -> None:
    people = replica(MemoryStore(100), alone=alone, wall=ManualClock())
    await get(people.client, 7)
    await get(people.client, 8)
    assert await people.cache.invalidate_entity("person:7") == 1
    await get(people.client, 7)
    await get(people.client, 8)
    assert people.work.users_asked == [7, 8, 7]


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-front-of-a-store"])
async def test_invalidating_an_operation_drops_its_held_entries(alone: bool) -> None:
    people = replica(MemoryStore(100), alone=alone, wall=ManualClock())
    await get(people.client, 7)
    await get(people.client, 8)
    assert await people.cache.invalidate_operation("people.get_person") == 2
    await get(people.client, 7)
    assert people.work.users_asked == [7, 8, 7]


async def test_an_invalidation_event_from_another_replica_drops_the_held_entry() -> None:
    shared_store = MemoryStore(100)
    wall = ManualClock()
    here, there = replica(shared_store, alone=False, wall=wall), replica(shared_store, alone=False, wall=wall)
    await here.cache.start()
    await get(here.client, 7)
    await there.cache.invalidate_entity("person:7")  # the memory store delivers its pub/sub in process
    await get(here.client, 7)
    assert here.work.upstream_requests == 2


async def test_without_redis_the_cache_is_bounded_by_memory_entries() -> None:
    cache = build_response_cache(CacheSettings(memory_entries=2))
    config = UpstreamConfig.uniform([Region("a", "http://a")], POLICY)

    def handler(request: httpx.Request) -> httpx.Response:
        person_id = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"id": person_id, "email": "p@example.com"})

    client = UpstreamClient("people", config, HttpxTransport(transport=httpx.MockTransport(handler)), cache=cache)
    for person_id in range(5):
        await get(client, person_id)
    assert cache.snapshot()["local_entries"] == 2
    assert cache.snapshot()["backend"] == "memory"


def test_keys_are_the_same_as_before_the_fast_digest() -> None:
    """Entries already in Redis keep their keys: the digest is HMAC-SHA256's first 128 bits in hex."""
    secret = b"k" * 32
    canonical = b'{"p":{"path":{"id":1}},"u":"7"}'
    expected = hmac.new(secret, canonical, hashlib.sha256).hexdigest()[:32]
    assert CacheKeys("t", secret)._digest(canonical) == expected
    assert (
        CacheKeys("t", secret).tag("product:42")
        == "t:tag:" + hmac.new(secret, b"product:42", "sha256").hexdigest()[:32]
    )
