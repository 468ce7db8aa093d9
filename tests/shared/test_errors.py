"""The exception tree: every error a client can see renders as problem+json with a
stable type, and every transport failure maps to exactly one upstream error."""

import inspect
from typing import TypeVar

import pytest
from pydantic import BaseModel

import shared.errors as errors
from shared import CallPolicy, Deadline, Operation, Region, UpstreamClient, UpstreamConfig, UpstreamResponse
from shared.problems import EXCEPTION_HANDLERS

T = TypeVar("T")


def subclasses(base: type[T]) -> list[type[T]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, base) and c is not base]


def test_every_error_descends_from_bff_error() -> None:
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if cls.__module__ == errors.__name__:
            assert issubclass(cls, errors.BFFError), name


@pytest.mark.parametrize("base", [errors.ClientError, errors.UpstreamError])
def test_client_visible_error_families_have_a_handler(base: type) -> None:
    assert base in EXCEPTION_HANDLERS


def test_client_errors_have_distinct_statuses_and_slugs() -> None:
    pairs = [(c.status, c.type_slug) for c in subclasses(errors.ClientError)]
    assert len(set(pairs)) == len(pairs)
    assert all(400 <= status < 500 for status, _ in pairs)


def test_only_unavailable_timeout_and_5xx_are_system_failures() -> None:
    failing = {c for c in subclasses(errors.UpstreamError) if c.is_system_failure}
    assert failing == {errors.UpstreamUnavailable, errors.UpstreamTimeout, errors.UpstreamStatusError}


class RaisingTransport:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send(self, *args: object, **kwargs: object) -> UpstreamResponse:
        raise self.error

    async def aclose(self) -> None:
        return None


class Echo(BaseModel):
    ok: bool


ECHO = Operation(upstream="echo", name="echo", method="GET", path="/", response=Echo, idempotent=True)
TRANSLATION = {
    errors.TransportConnectError: errors.UpstreamUnavailable,
    errors.TransportProtocolError: errors.UpstreamUnavailable,
    errors.TransportTimeout: errors.UpstreamTimeout,
}


def test_the_translation_table_covers_every_transport_error() -> None:
    assert set(TRANSLATION) == set(subclasses(errors.TransportError))


@pytest.mark.parametrize(("raised", "expected"), list(TRANSLATION.items()))
async def test_each_transport_error_becomes_its_upstream_error(
    raised: type[errors.TransportError], expected: type[errors.UpstreamError]
) -> None:
    config = UpstreamConfig.uniform([Region("a", "http://a")], CallPolicy(retry={"attempts": 1}))
    upstream = UpstreamClient("echo", config, RaisingTransport(raised("x")))
    with pytest.raises(expected) as caught:
        await upstream.call(ECHO, deadline=Deadline.after(1))
    assert isinstance(caught.value.__cause__, raised)
    assert (caught.value.upstream, caught.value.region) == ("echo", "a")
