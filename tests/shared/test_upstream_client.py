"""The upstream client against scripted answers (httpx.MockTransport): failover order,
what is and is not repeated, and the translation of every failure into the error tree."""

from collections.abc import Callable

import httpx
import pytest
from pydantic import BaseModel

from shared import (
    CallPolicy,
    Deadline,
    Operation,
    Region,
    RetryPolicy,
    UpstreamBadResponse,
    UpstreamClient,
    UpstreamConfig,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.http.httpx_transport import HttpxTransport


class Thing(BaseModel):
    id: int
    name: str


GET_THING = Operation(
    upstream="things", name="get_thing", method="GET", path="/things/{thing_id}", response=Thing, idempotent=True
)
CREATE_THING = Operation(
    upstream="things", name="create_thing", method="POST", path="/things", response=Thing, idempotent=False
)
REGIONS = [Region("a", "http://region-a"), Region("b", "http://region-b")]
#: These tests are about failover and translation; retries have their own tests.
NO_RETRY = CallPolicy(retry=RetryPolicy(attempts=1))

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, policy: CallPolicy | None = None) -> UpstreamClient:
    transport = HttpxTransport(transport=httpx.MockTransport(handler))
    return UpstreamClient("things", UpstreamConfig.uniform(REGIONS, policy or NO_RETRY), transport)


def by_region(**answers: httpx.Response | Exception) -> tuple[Handler, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        region = request.url.host.removeprefix("region-")
        seen.append(region)
        answer = answers[region]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


OK = httpx.Response(200, json={"id": 1, "name": "one"})


async def test_a_healthy_first_region_answers_alone() -> None:
    handler, seen = by_region(a=OK, b=OK)
    thing = await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1))
    assert thing == Thing(id=1, name="one")
    assert seen == ["a"]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(500),
        httpx.Response(429),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_system_failure_in_first_region_fails_over_to_the_next(failure: httpx.Response | Exception) -> None:
    handler, seen = by_region(a=failure, b=OK)
    thing = await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1))
    assert thing.id == 1
    assert seen == ["a", "b"]


async def test_a_4xx_answer_is_not_failed_over_and_carries_the_upstream_code() -> None:
    handler, seen = by_region(a=httpx.Response(404, json={"error": "not_found"}), b=OK)
    with pytest.raises(UpstreamRejected) as caught:
        await client(handler).call(GET_THING, path_params={"thing_id": 9}, deadline=Deadline.after(1))
    assert (caught.value.upstream_status, caught.value.code) == (404, "not_found")
    assert seen == ["a"]


async def test_a_write_without_idempotency_key_is_never_repeated() -> None:
    handler, seen = by_region(a=httpx.Response(503), b=OK)
    with pytest.raises(UpstreamStatusError):
        await client(handler).call(CREATE_THING, json={"name": "x"}, deadline=Deadline.after(1))
    assert seen == ["a"]


async def test_a_write_with_idempotency_key_fails_over() -> None:
    handler, seen = by_region(a=httpx.Response(503), b=httpx.Response(201, json={"id": 2, "name": "x"}))
    thing = await client(handler).call(
        CREATE_THING, json={"name": "x"}, headers={"Idempotency-Key": "k1"}, deadline=Deadline.after(1)
    )
    assert thing.id == 2
    assert seen == ["a", "b"]


async def test_failover_can_be_switched_off_by_policy() -> None:
    handler, seen = by_region(a=httpx.Response(503), b=OK)
    with pytest.raises(UpstreamStatusError):
        await client(handler, CallPolicy(failover=False, retry=RetryPolicy(attempts=1))).call(
            GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1)
        )
    assert seen == ["a"]


async def test_all_regions_down_raises_the_last_failure() -> None:
    handler, seen = by_region(a=httpx.ConnectError("refused"), b=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamUnavailable) as caught:
        await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1))
    assert caught.value.region == "b"
    assert seen == ["a", "b"]


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"unexpected": true}', b"[1, 2]"])
async def test_garbage_or_wrong_shape_is_a_bad_response_without_failover(body: bytes) -> None:
    handler, seen = by_region(a=httpx.Response(200, content=body), b=OK)
    with pytest.raises(UpstreamBadResponse):
        await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1))
    assert seen == ["a"]


async def test_an_expired_deadline_makes_no_call() -> None:
    handler, seen = by_region(a=OK, b=OK)
    with pytest.raises(UpstreamTimeout):
        await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(0))
    assert seen == []


async def test_retry_after_of_a_429_is_kept_for_the_policy() -> None:
    handler, _ = by_region(a=httpx.Response(429, headers={"Retry-After": "3"}), b=httpx.Response(503))
    with pytest.raises(UpstreamStatusError) as caught:
        await client(handler).call(GET_THING, path_params={"thing_id": 1}, deadline=Deadline.after(1))
    assert caught.value.region == "b"


async def test_path_parameters_are_escaped_and_request_headers_sent() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return OK

    await client(handler).call(
        GET_THING, path_params={"thing_id": "a/b c"}, params={"x": 1}, deadline=Deadline.after(1)
    )
    assert captured[0].url.raw_path == b"/things/a%2Fb%20c?x=1"
    assert captured[0].headers["accept"] == "application/json"
