"""Endpoints sharing a path become one route, so a wrong method's 405 names them all."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from shared import Endpoint
from shared.endpoints import endpoint_routes


class Item(BaseModel):
    id: int


async def list_items(request: Request) -> Response:
    return PlainTextResponse("list")


async def create_item(request: Request) -> Response:
    return PlainTextResponse("created", status_code=201)


async def get_item(request: Request) -> Response:
    return PlainTextResponse("one")


ENDPOINTS = [
    Endpoint("GET", "/v1/items", list_items, "List", Item, "listItems"),
    Endpoint("POST", "/v1/items", create_item, "Create", Item, "createItem", status=201),
    Endpoint("GET", "/v1/items/{item_id}", get_item, "One", Item, "getItem"),
]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=endpoint_routes(ENDPOINTS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def test_endpoints_on_one_path_share_one_route() -> None:
    assert [route.path for route in endpoint_routes(ENDPOINTS)] == ["/v1/items", "/v1/items/{item_id}"]


@pytest.mark.parametrize(
    ("method", "status", "text"), [("GET", 200, "list"), ("POST", 201, "created"), ("HEAD", 200, "")]
)
async def test_each_method_reaches_its_own_handler(
    client: httpx.AsyncClient, method: str, status: int, text: str
) -> None:
    answer = await client.request(method, "/v1/items")
    assert (answer.status_code, answer.text) == (status, text)


async def test_a_wrong_method_is_405_allowing_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    answer = await client.put("/v1/items")
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}  # a set in Starlette
