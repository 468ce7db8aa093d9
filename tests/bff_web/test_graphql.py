"""GraphQL at /graphql against real stand-ins: data, batching, partial data, errors."""

from typing import Any

import httpx
import pytest

from tests.support import Standins

USER = {"X-User-Id": "7"}
GQL = {"Accept": "application/graphql-response+json"}

ORDERS_WITH_PRODUCTS = """
query { viewer { orders(first: 10) { items { id
    items { quantity product { name price { amount } stock { available } } } } } } }
"""


def route_calls(upstreams: Standins, upstream: str, route: str) -> int:
    return sum(
        upstreams.http.get(f"{upstreams.url(upstream, region)}/_stats").json()["by_route"].get(route, 0)
        for region in upstreams.region_names[upstream]
    )


async def post(
    web: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await web.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={**USER, **GQL, **headers}
    )


async def test_dashboard_returns_profile_orders_and_recommendations(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    raw_orders = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=3").json()["items"]
    picks = upstreams.http.get(f"{upstreams.url('recommendations')}/users/7/recommendations?limit=4").json()["items"]
    query = """{ viewer { profile { name email } orders(first: 3) { items { id status } nextCursor }
                 recommendations(first: 4) { score product { id name } } } }"""
    answer = await post(web, query)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/graphql-response+json")
    viewer = answer.json()["data"]["viewer"]
    assert viewer["profile"]["email"].startswith(viewer["profile"]["email"][0] + "***@")
    assert [o["id"] for o in viewer["orders"]["items"]] == [o["id"] for o in raw_orders]
    assert viewer["orders"]["nextCursor"]
    assert [r["product"]["id"] for r in viewer["recommendations"]] == [str(p["product_id"]) for p in picks]
    assert "errors" not in answer.json()


async def test_ten_orders_with_their_lines_make_one_catalog_batch_call(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    # User 3's seeded orders: no other test places orders for them, so their last ten hold
    # more lines than orders whatever ran before.
    answer = await web.post("/graphql", json={"query": ORDERS_WITH_PRODUCTS}, headers={**GQL, "X-User-Id": "3"})
    orders = answer.json()["data"]["viewer"]["orders"]["items"]
    lines = [line for order in orders for line in order["items"]]
    assert len(orders) == 10
    assert len(lines) > 10
    assert all(line["product"]["name"] for line in lines)
    assert route_calls(upstreams, "catalog", "GET /products") == 1
    assert route_calls(upstreams, "catalog", "GET /products/{product_id}") == 0
    assert route_calls(upstreams, "inventory", "GET /stock") == 1
    assert route_calls(upstreams, "orders", "GET /orders/{order_id}") == 10


async def test_identical_lookups_in_one_request_are_made_once(web: httpx.AsyncClient, upstreams: Standins) -> None:
    query = "{ a: product(id: 42) { name } b: product(id: 42) { price { amount } } c: product(id: 43) { name } }"
    answer = await post(web, query)
    data = answer.json()["data"]
    assert data["a"]["name"] and data["b"]["price"]["amount"] and data["c"]["name"]
    assert route_calls(upstreams, "catalog", "GET /products") == 1


async def test_product_with_related_and_stock(web: httpx.AsyncClient, upstreams: Standins) -> None:
    raw = upstreams.http.get(f"{upstreams.url('catalog')}/products/42").json()
    query = '{ product(id: 42) { name stock(region: "us") { region available } related(first: 3) { id name } } }'
    product = (await post(web, query)).json()["data"]["product"]
    assert product["name"] == raw["name"]
    assert product["stock"]["region"] == "us"
    assert len(product["related"]) == 3


async def test_stock_down_inside_related_products_nulls_each_stock_with_an_error_at_its_path(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("inventory", "*", down=True)
    query = "{ product(id: 42) { name related(first: 3) { id stock { inStock } } } }"
    body = (await post(web, query)).json()
    related = body["data"]["product"]["related"]
    assert [p["stock"] for p in related] == [None, None, None]
    paths = sorted(tuple(error["path"]) for error in body["errors"])
    assert paths == [("product", "related", i, "stock") for i in range(3)]
    assert {error["extensions"]["code"] for error in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}


async def test_unknown_product_is_null_without_error(web: httpx.AsyncClient) -> None:
    answer = (await post(web, "{ product(id: 999999) { name } }")).json()
    assert answer == {"data": {"product": None}}


async def test_search_pages_with_an_opaque_cursor(web: httpx.AsyncClient) -> None:
    query = 'query($after: String) { search(query: "shoe", first: 5, after: $after) { total nextCursor items { id } } }'
    first = (await post(web, query)).json()["data"]["search"]
    second = (await post(web, query, {"after": first["nextCursor"]})).json()["data"]["search"]
    assert first["total"] > 5
    assert not {p["id"] for p in first["items"]} & {p["id"] for p in second["items"]}


async def test_recommendations_down_gives_data_and_an_error_with_its_code(
    web: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", error_rate=1.0, error_status=503)
    query = "{ viewer { profile { name } recommendations(first: 3) { score } } }"
    answer = await post(web, query)
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"]["viewer"]["profile"]["name"]
    assert body["data"]["viewer"]["recommendations"] is None
    [error] = body["errors"]
    assert error["path"] == ["viewer", "recommendations"]
    assert error["extensions"] == {"code": "UPSTREAM_FAILED", "upstream": "recommendations"}
    assert "127.0.0.1" not in answer.text


async def test_viewer_without_identity_is_an_unauthenticated_error(web: httpx.AsyncClient) -> None:
    answer = await web.post("/graphql", json={"query": "{ viewer { profile { name } } }"}, headers=GQL)
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bad_argument_is_bad_user_input(web: httpx.AsyncClient) -> None:
    body = (await post(web, "{ viewer { orders(first: 500) { items { id } } } }")).json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        ('{ product(id: "²") { name } }', None, "id"),  # isdigit() but not int()
        (
            'query($after: String) { search(query: "shoe", after: $after) { total } }',
            {"after": "eyJ2IjoxLCJwIjoiwrIifQ"},  # a cursor of ours, but at position "²"
            "after",
        ),
    ],
)
async def test_digits_int_cannot_read_are_bad_user_input(
    web: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, field: str
) -> None:
    body = (await post(web, query, variables)).json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_unexpected_errors_are_masked(web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from bff_web.graphql.loaders import Loaders

    async def broken(self: Loaders, ids: list[int]) -> list[None]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Loaders, "_products", broken)
    answer = await post(web, "{ product(id: 42) { name } }")
    assert answer.status_code == 200
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in answer.text


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("{ product(id: 42) { name ", "GRAPHQL_PARSE_FAILED"),
        ("{ product(id: 42) { nonsense } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ nothingHere }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_malformed_documents_and_unknown_fields_are_400_never_500(
    web: httpx.AsyncClient, document: str, code: str
) -> None:
    answer = await post(web, document)
    assert answer.status_code == 400
    body = answer.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


async def test_wrong_variable_types_are_400(web: httpx.AsyncClient) -> None:
    query = 'query($first: Int!) { search(query: "shoe", first: $first) { total } }'
    answer = await post(web, query, {"first": "ten"})
    assert answer.status_code == 400
    assert "data" not in answer.json()


async def test_legacy_json_clients_get_200_for_request_errors(web: httpx.AsyncClient) -> None:
    answer = await web.post("/graphql", json={"query": "{ nope }"}, headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["errors"]


async def test_get_runs_queries_and_answers_304_to_its_etag(web: httpx.AsyncClient) -> None:
    params = {"query": "{ product(id: 42) { name } }"}
    first = await web.get("/graphql", params=params, headers=GQL)
    assert first.status_code == 200
    again = await web.get("/graphql", params=params, headers={**GQL, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_get_refuses_mutations(web: httpx.AsyncClient) -> None:
    answer = await web.get("/graphql", params={"query": "mutation { x }"}, headers=GQL)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


async def test_post_needs_json(web: httpx.AsyncClient) -> None:
    answer = await web.post(
        "/graphql", content=b"{ product(id: 1) { name } }", headers={"Content-Type": "application/graphql"}
    )
    assert answer.status_code == 415


async def test_a_body_that_is_not_json_is_400(web: httpx.AsyncClient) -> None:
    answer = await web.post("/graphql", content=b"{oops", headers={"Content-Type": "application/json", **GQL})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_batch_answers_each_operation(web: httpx.AsyncClient) -> None:
    batch = [{"query": "{ product(id: 1) { id } }"}, {"query": "{ product(id: 2) { id } }"}]
    answer = await web.post("/graphql", json=batch, headers=GQL)
    assert answer.status_code == 200
    assert [item["data"]["product"]["id"] for item in answer.json()] == ["1", "2"]


async def test_graphiql_is_served_to_browsers_in_development(web: httpx.AsyncClient) -> None:
    answer = await web.get("/graphql", headers={"Accept": "text/html"})
    assert answer.status_code == 200
    assert "graphiql" in answer.text.lower()
