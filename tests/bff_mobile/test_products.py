"""GET /v1/products/{id}."""

import httpx

from tests.support import Standins


async def test_product_screen_shows_product_stock_and_five_related(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    product = upstreams.http.get(f"{upstreams.url('catalog')}/products/42").json()
    stock = upstreams.http.get(f"{upstreams.url('inventory')}/stock?ids=42&region=us").json()["items"][0]
    answer = await mobile.get("/v1/products/42", params={"region": "us"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["product"]["name"] == product["name"]
    assert body["stock"] == {"region": "us", "available": stock["available"], "in_stock": stock["available"] > 0}
    assert len(body["related"]) == 5
    assert 42 not in [p["id"] for p in body["related"]]
    assert body["degraded"] == []


async def test_region_defaults_to_the_configured_one(mobile: httpx.AsyncClient) -> None:
    body = (await mobile.get("/v1/products/42")).json()
    assert body["stock"]["region"] == "eu"


async def test_unknown_product_is_404(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/products/999999")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_non_numeric_product_id_is_400_naming_the_field(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/products/abc")
    assert answer.status_code == 400
    assert answer.json()["field"] == "product_id"


async def test_unknown_region_is_400_naming_the_field(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/products/42", params={"region": "mars"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "region"


async def test_inventory_down_degrades_the_stock_and_the_related_cards_stock(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("inventory", "*", error_rate=1.0, error_status=500)
    body = (await mobile.get("/v1/products/42")).json()
    assert body["stock"] is None
    assert len(body["related"]) == 5
    assert {p["in_stock"] for p in body["related"]} == {None}
    assert body["degraded"] == ["stock", "related.stock"]


async def test_catalog_down_is_a_problem(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    upstreams.fault("catalog", "*", error_rate=1.0, error_status=503)
    answer = await mobile.get("/v1/products/42")
    assert answer.status_code == 502
    assert answer.json()["type"] == "urn:problem-type:bff:upstream-failed"
