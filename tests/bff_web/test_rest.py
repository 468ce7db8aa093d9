"""bff_web's REST endpoints and its committed API references."""

import json
from pathlib import Path

import httpx

from bff_web.app import openapi
from bff_web.graphql.schema import sdl
from shared.cli.openapi_diff import breaking_changes
from tests.support import Standins

DOCS = Path(__file__).parents[2] / "docs" / "api"
USER = {"X-User-Id": "7"}


async def test_product_page_is_richer_than_mobile(web: httpx.AsyncClient, upstreams: Standins) -> None:
    raw = upstreams.http.get(f"{upstreams.url('catalog')}/products/42").json()
    body = (await web.get("/v1/products/42", params={"region": "apac"})).json()
    assert body["product"]["description"] == raw["description"]
    assert body["stock"]["region"] == "apac"
    assert len(body["related"]) == 8
    assert all(isinstance(p["in_stock"], bool) for p in body["related"])


async def test_product_page_names_the_related_products_stock_when_inventory_is_down(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("inventory", "*", down=True)
    answer = await web.get("/v1/products/42")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["stock"], len(body["related"])) == (None, 8)
    assert {p["in_stock"] for p in body["related"]} == {None}
    assert body["degraded"] == ["stock", "related.stock"]


async def test_orders_page_carries_each_orders_lines_and_products(web: httpx.AsyncClient) -> None:
    body = (await web.get("/v1/orders", params={"limit": 3}, headers=USER)).json()
    assert len(body["items"]) == 3
    assert all(order["lines"] and all(line["product"]["name"] for line in order["lines"]) for order in body["items"])
    assert body["degraded"] == []


async def test_orders_page_degrades_products_when_the_catalog_is_down(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("catalog", "*", down=True)
    body = (await web.get("/v1/orders", params={"limit": 2}, headers=USER)).json()
    assert body["degraded"] == ["order_products"]
    assert all(line["product"] is None for order in body["items"] for line in order["lines"])


async def test_placing_an_order_answers_its_lines_and_a_replay_the_same_order(web: httpx.AsyncClient) -> None:
    body = {"items": [{"product_id": 42, "quantity": 2}]}
    headers = {**USER, "Idempotency-Key": "web-order-1"}
    placed = await web.post("/v1/orders", json=body, headers=headers)
    replayed = await web.post("/v1/orders", json=body, headers=headers)
    keyless = await web.post("/v1/orders", json=body, headers=USER)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["item_count"] == 2 and order["lines"][0]["product"]["id"] == 42 and order["degraded"] == []
    assert replayed.status_code == 201 and replayed.json()["id"] == order["id"]
    assert keyless.status_code == 400 and keyless.json()["field"] == "Idempotency-Key"


async def test_profile_is_masked(web: httpx.AsyncClient, upstreams: Standins) -> None:
    raw = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()
    text = (await web.get("/v1/me", headers=USER)).text
    assert raw["email"] not in text
    assert raw["phone"] not in text


async def test_bad_input_is_a_problem_naming_the_field(web: httpx.AsyncClient) -> None:
    answer = await web.get("/v1/products/42", params={"region": "mars"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == "region"


async def test_an_unchanged_page_answers_304(web: httpx.AsyncClient) -> None:
    first = await web.get("/v1/products/42")
    again = await web.get("/v1/products/42", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_openapi_makes_no_breaking_change_and_is_up_to_date() -> None:
    snapshot = json.loads((DOCS / "bff_web.openapi.json").read_text())
    assert breaking_changes(snapshot, openapi()) == []
    assert snapshot == openapi(), "run `make openapi` to refresh the snapshot"


def test_graphql_schema_reference_is_up_to_date() -> None:
    assert (DOCS / "bff_web.graphql").read_text() == sdl(), "run `make openapi` to refresh docs/api/bff_web.graphql"
