"""The orders stand-in's HTTP contract: history pages, order detail, idempotent create."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from upstreams._standin import StandinCluster
from upstreams.catalog.data import product
from upstreams.orders import data
from upstreams.orders.standin import NewOrder, OrderBook, create_standins

EU, CENTRAL = "eu-west-1", "eu-central-1"
ClientFor = Callable[[str, str], httpx.Client]
SUMMARY_KEYS = {"id", "user_id", "status", "placed_at", "total_cents", "currency", "item_count"}
DETAIL_KEYS = {"id", "user_id", "status", "placed_at", "currency", "total_cents", "items"}
STATUSES = {"placed", "paid", "shipped", "delivered", "cancelled"}
# Seeded users with many, few and no orders; created orders go to users not read elsewhere.
USER_WITH_ORDERS = 7
USER_WITHOUT_ORDERS = next(u for u in range(1, 1001) if data.seeded_order_count(u) == 0)
_fresh_users = itertools.count(2000)


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"orders": create_standins([EU, CENTRAL])}) as cluster:
        yield cluster


@pytest.fixture
def orders(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("orders", EU)


@pytest.fixture
def orders_elsewhere(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    """The same stand-in in the other region."""
    return client_for("orders", CENTRAL)


@pytest.fixture
def new_user() -> int:
    """A user id no other test touches, so created orders do not leak between tests."""
    return next(_fresh_users)


def create(client: httpx.Client, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post("/orders", json=body, headers={"Idempotency-Key": key})


def one_line_order(user_id: int, quantity: int = 2) -> dict[str, Any]:
    return {"user_id": user_id, "items": [{"product_id": 42, "quantity": quantity}]}


# History


def test_order_page_has_the_contract_shape(orders: httpx.Client) -> None:
    page = orders.get(f"/users/{USER_WITH_ORDERS}/orders").raise_for_status().json()

    assert set(page) == {"items", "next_cursor"}
    for summary in page["items"]:
        assert set(summary) == SUMMARY_KEYS
        assert summary["user_id"] == USER_WITH_ORDERS
        assert summary["status"] in STATUSES
        assert summary["currency"] == "EUR"
        assert summary["placed_at"].endswith("Z")
        datetime.fromisoformat(summary["placed_at"])


def test_order_page_is_newest_first(orders: httpx.Client) -> None:
    items = orders.get(f"/users/{USER_WITH_ORDERS}/orders", params={"limit": 50}).json()["items"]
    placed = [item["placed_at"] for item in items]

    assert placed == sorted(placed, reverse=True)


def test_order_pages_walk_the_whole_history_once(orders: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = orders.get(f"/users/{USER_WITH_ORDERS}/orders", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)) == data.seeded_order_count(USER_WITH_ORDERS)


def test_order_page_defaults_to_10(orders: httpx.Client) -> None:
    assert len(orders.get("/users/10/orders").json()["items"]) == min(10, data.seeded_order_count(10))


def test_user_without_orders_gets_an_empty_page(orders: httpx.Client) -> None:
    page = orders.get(f"/users/{USER_WITHOUT_ORDERS}/orders").json()

    assert page == {"items": [], "next_cursor": None}


def test_unknown_user_gets_an_empty_page(orders: httpx.Client) -> None:
    assert orders.get("/users/99999/orders").json() == {"items": [], "next_cursor": None}


def test_seeded_users_have_0_to_25_orders() -> None:
    counts = {data.seeded_order_count(user_id) for user_id in range(1, 1001)}

    assert min(counts) == 0
    assert max(counts) == 25


@pytest.mark.parametrize("limit", ["0", "51", "many"])
def test_limit_outside_1_to_50_is_400(orders: httpx.Client, limit: str) -> None:
    response = orders.get("/users/7/orders", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_limit"


@pytest.mark.parametrize("cursor", ["garbage", "djE6Nzo5OTk", "!!!"])
def test_malformed_cursor_is_400(orders: httpx.Client, cursor: str) -> None:
    response = orders.get("/users/7/orders", params={"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_cursor"


def test_cursor_of_another_user_is_400(orders: httpx.Client) -> None:
    cursor = orders.get("/users/7/orders", params={"limit": 1}).json()["next_cursor"]

    assert orders.get("/users/8/orders", params={"cursor": cursor}).json()["error"] == "invalid_cursor"


def test_history_is_the_same_every_time_and_in_every_region(
    orders: httpx.Client, orders_elsewhere: httpx.Client
) -> None:
    first = orders.get("/users/3/orders").json()
    elsewhere = orders_elsewhere.get("/users/3/orders").json()

    assert orders.get("/users/3/orders").json() == first
    assert elsewhere == first


# Detail


def test_order_detail_has_the_contract_shape(orders: httpx.Client) -> None:
    order = orders.get("/orders/o-000007-001").raise_for_status().json()

    assert set(order) == DETAIL_KEYS
    assert order["id"] == "o-000007-001"
    assert order["user_id"] == 7
    assert order["items"]
    for line in order["items"]:
        assert set(line) == {"product_id", "quantity", "unit_price_cents"}


def test_order_items_carry_catalog_prices_and_add_up(orders: httpx.Client) -> None:
    order = orders.get("/orders/o-000007-002").json()

    for line in order["items"]:
        assert line["unit_price_cents"] == product(line["product_id"])["price_cents"]
    assert order["total_cents"] == sum(line["quantity"] * line["unit_price_cents"] for line in order["items"])


def test_summary_matches_its_detail(orders: httpx.Client) -> None:
    summary = orders.get("/users/7/orders", params={"limit": 1}).json()["items"][0]
    detail = orders.get(f"/orders/{summary['id']}").json()

    assert summary["total_cents"] == detail["total_cents"]
    assert summary["item_count"] == sum(line["quantity"] for line in detail["items"])


@pytest.mark.parametrize("order_id", ["o-000007-999", f"o-{USER_WITHOUT_ORDERS:06d}-001", "nope", "o-7-1"])
def test_unknown_order_is_404(orders: httpx.Client, order_id: str) -> None:
    response = orders.get(f"/orders/{order_id}")

    assert response.status_code == 404
    assert response.json()["error"] == "order_not_found"


# Create


def test_create_answers_201_with_the_placed_order(orders: httpx.Client, new_user: int) -> None:
    response = create(orders, "create-1", one_line_order(new_user, quantity=2))

    assert response.status_code == 201
    order = response.json()
    assert set(order) == DETAIL_KEYS
    assert order["status"] == "placed"
    assert order["user_id"] == new_user
    assert order["items"] == [{"product_id": 42, "quantity": 2, "unit_price_cents": product(42)["price_cents"]}]
    assert order["total_cents"] == 2 * product(42)["price_cents"]
    assert "idempotent-replayed" not in response.headers


def test_created_order_can_be_read_back(orders: httpx.Client, new_user: int) -> None:
    order = create(orders, "create-2", one_line_order(new_user)).json()

    assert orders.get(f"/orders/{order['id']}").json() == order


def test_created_order_comes_first_in_the_history(orders: httpx.Client) -> None:
    order = create(orders, "create-3", one_line_order(USER_WITH_ORDERS)).json()

    first = orders.get(f"/users/{USER_WITH_ORDERS}/orders", params={"limit": 1}).json()["items"][0]

    assert first["id"] == order["id"]


def test_created_order_is_visible_in_the_other_region(
    orders: httpx.Client, orders_elsewhere: httpx.Client, new_user: int
) -> None:
    order = create(orders, "create-4", one_line_order(new_user)).json()

    assert orders_elsewhere.get(f"/orders/{order['id']}").json() == order


def test_replay_with_the_same_key_and_body_answers_the_same_order(orders: httpx.Client, new_user: int) -> None:
    first = create(orders, "replay-1", one_line_order(new_user))

    replay = create(orders, "replay-1", one_line_order(new_user))

    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()


def test_replay_creates_nothing(orders: httpx.Client, new_user: int) -> None:
    create(orders, "replay-2", one_line_order(new_user))
    create(orders, "replay-2", one_line_order(new_user))

    assert len(orders.get(f"/users/{new_user}/orders").json()["items"]) == 1


def test_replay_in_the_other_region_answers_the_same_order(
    orders: httpx.Client, orders_elsewhere: httpx.Client, new_user: int
) -> None:
    first = create(orders, "replay-3", one_line_order(new_user)).json()

    replay = create(orders_elsewhere, "replay-3", one_line_order(new_user))

    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first


def test_reusing_a_key_with_another_body_is_422(orders: httpx.Client, new_user: int) -> None:
    create(orders, "reuse-1", one_line_order(new_user, quantity=1))

    response = create(orders, "reuse-1", one_line_order(new_user, quantity=3))

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"


async def test_concurrent_creates_with_one_key_create_one_order(fresh: StandinCluster, new_user: int) -> None:
    body = one_line_order(new_user)
    headers = {"Idempotency-Key": "concurrent-1"}
    async with (
        httpx.AsyncClient(base_url=fresh.url("orders", EU)) as region_a,
        httpx.AsyncClient(base_url=fresh.url("orders", CENTRAL)) as region_b,
    ):
        responses = await asyncio.gather(
            *(client.post("/orders", json=body, headers=headers) for client in [region_a, region_b] * 10)
        )
        history = (await region_a.get(f"/users/{new_user}/orders")).json()["items"]

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum("idempotent-replayed" not in response.headers for response in responses) == 1
    assert len(history) == 1


@pytest.mark.parametrize("key", [None, "", "has space", "key/1", "x" * 129])
def test_create_without_a_valid_idempotency_key_is_400(orders: httpx.Client, key: str | None) -> None:
    headers = {} if key is None else {"Idempotency-Key": key}

    response = orders.post("/orders", json=one_line_order(1), headers=headers)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"


def test_create_accepts_a_128_character_key(orders: httpx.Client, new_user: int) -> None:
    assert create(orders, "k" * 128, one_line_order(new_user)).status_code == 201


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"user_id": 1, "items": []}, "items"),
        ({"user_id": 1, "items": [{"product_id": 42, "quantity": 0}]}, "items.0.quantity"),
        ({"user_id": 1, "items": [{"product_id": 42, "quantity": 100}]}, "items.0.quantity"),
        ({"user_id": 1, "items": [{"product_id": 42, "quantity": 1}] * 51}, "items"),
        ({"items": [{"product_id": 42, "quantity": 1}]}, "user_id"),
        ({"user_id": 1, "items": [{"product_id": 42, "quantity": 1}], "coupon": "X"}, "coupon"),
    ],
)
def test_create_with_an_invalid_body_is_422_naming_the_field(
    orders: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = create(orders, "invalid-body", body)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_order"
    assert named in response.json()["detail"]


def test_create_with_an_unknown_product_is_422_naming_it(orders: httpx.Client) -> None:
    body = {"user_id": 1, "items": [{"product_id": 1, "quantity": 1}, {"product_id": 5001, "quantity": 1}]}

    response = create(orders, "unknown-product", body)

    assert response.status_code == 422
    assert response.json()["error"] == "unknown_product"
    assert "items.1.product_id" in response.json()["detail"]


def test_create_with_a_body_that_is_not_json_is_400(orders: httpx.Client) -> None:
    response = orders.post("/orders", content=b"{", headers={"Idempotency-Key": "not-json"})

    assert response.json()["error"] == "invalid_json"


def test_order_book_stamps_created_orders_with_its_clock() -> None:
    book = OrderBook(clock=lambda: datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC))

    order = book.create(NewOrder.model_validate(one_line_order(5000)))

    assert order["placed_at"] == "2027-01-02T03:04:05Z"
