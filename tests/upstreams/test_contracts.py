"""Contract tests: every registered operation, called as its client calls it, against
its upstream's stand-in in each region, answers what the client's model expects.

A new upstream gets this test by registering: it only has to give each operation a
``CallExample``.
"""

import pytest
from pydantic import BaseModel

from shared import Deadline, Operation, Region, UpstreamClient, UpstreamConfig
from shared.http.aiohttp_transport import AiohttpTransport
from tests.support import Standins
from upstreams.registry import registered_upstreams

OPERATIONS = [(spec.name, op) for spec in registered_upstreams() for op in spec.operations]


def test_every_operation_declares_a_contract_example() -> None:
    missing = [op.key for _, op in OPERATIONS if op.example is None]
    assert missing == []


@pytest.mark.parametrize(("upstream", "operation"), OPERATIONS, ids=[op.key for _, op in OPERATIONS])
@pytest.mark.parametrize("region", ["eu-west-1", "eu-central-1"])
async def test_operation_answers_its_response_model(
    upstreams: Standins, upstream: str, operation: Operation[BaseModel], region: str
) -> None:
    example = operation.example
    assert example is not None
    if example.setup is not None:
        example = await example.setup(upstreams.url(upstream, region))
    transport = AiohttpTransport()
    config = UpstreamConfig.uniform([Region(region, upstreams.url(upstream, region))])
    client = UpstreamClient(upstream, config, transport)
    try:
        answer = await client.call(
            operation,
            path_params=example.path_params,
            params=example.params,
            json=example.json,
            form=example.form,
            headers=dict(example.headers),
            deadline=Deadline.after(5),
        )
    finally:
        await transport.aclose()
    assert isinstance(answer, operation.response)


def test_registered_names_are_unique_and_match_their_operations() -> None:
    specs = registered_upstreams()
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert all(op.upstream == spec.name for op in spec.operations)
        assert len(set(spec.operation_names)) == len(spec.operations)
