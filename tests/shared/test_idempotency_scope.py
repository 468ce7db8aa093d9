"""A client's Idempotency-Key reaches the upstream scoped to the caller and the operation,
as a keyed hash: never raw, the same on every replica sharing the cache's HMAC key."""

import httpx
from pydantic import BaseModel, SecretStr

from shared import CallPolicy, Deadline, Operation, Region, RetryPolicy, UpstreamClient, UpstreamConfig
from shared.cache import build_response_cache
from shared.http.httpx_transport import HttpxTransport
from shared.settings import CacheSettings
from shared.upstream_client import IDEMPOTENCY_HEADER, IdempotencyKey


class Thing(BaseModel):
    id: int


CREATE = Operation(
    upstream="things", name="create_thing", method="POST", path="/things", response=Thing, idempotent=False
)
OTHER = Operation(
    upstream="things", name="create_other", method="POST", path="/others", response=Thing, idempotent=False
)


def replica(seen: list[str], hmac_key: str = "shared-key") -> UpstreamClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers[IDEMPOTENCY_HEADER])
        return httpx.Response(201, json={"id": 1})

    cache = build_response_cache(CacheSettings(hmac_key=SecretStr(hmac_key)))
    config = UpstreamConfig.uniform([Region("a", "http://a")], CallPolicy(retry=RetryPolicy(attempts=1)))
    return UpstreamClient("things", config, HttpxTransport(transport=httpx.MockTransport(handler)), cache=cache)


async def send(client: UpstreamClient, operation: Operation[Thing], caller: int, key: str) -> None:
    await client.call(operation, json={}, idempotency=IdempotencyKey(caller, key), deadline=Deadline.after(2))


async def test_two_callers_with_one_key_send_different_keys_upstream() -> None:
    seen: list[str] = []
    client = replica(seen)
    await send(client, CREATE, 7, "k-1")
    await send(client, CREATE, 8, "k-1")
    assert seen[0] != seen[1]


async def test_one_caller_with_one_key_for_two_operations_sends_different_keys() -> None:
    seen: list[str] = []
    client = replica(seen)
    await send(client, CREATE, 7, "k-1")
    await send(client, OTHER, 7, "k-1")
    assert seen[0] != seen[1]


async def test_the_scoped_key_is_the_same_on_every_replica_and_carries_nothing_raw() -> None:
    seen: list[str] = []
    await send(replica(seen), CREATE, 123456, "client-key")
    await send(replica(seen), CREATE, 123456, "client-key")
    await send(replica(seen, hmac_key="another-deployment"), CREATE, 123456, "client-key")
    assert seen[0] == seen[1] != seen[2]
    assert "client-key" not in seen[0] and "123456" not in seen[0]
    assert len(seen[0]) == 64 and seen[0].isalnum()


async def test_parts_cannot_be_shifted_between_caller_and_key() -> None:
    seen: list[str] = []
    client = replica(seen)
    await send(client, CREATE, 1, "2-x")
    await client.call(CREATE, json={}, idempotency=IdempotencyKey("1-2", "x"), deadline=Deadline.after(2))
    assert seen[0] != seen[1]
