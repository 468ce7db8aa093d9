"""Orders: the paged list, the detail, and the idempotent create."""

import uuid

import httpx

from tests.support import Standins

USER = {"X-User-Id": "7"}


def key() -> str:
    return uuid.uuid4().hex


async def test_orders_page_through_every_order_with_opaque_cursors(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    everything = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=50").json()["items"]
    seen, cursor = [], None
    for _ in range(20):
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await mobile.get("/v1/orders", params=params, headers=USER)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [o["id"] for o in everything]


async def test_order_detail_names_each_item(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    order_id = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=1").json()["items"][0]["id"]
    upstream = upstreams.http.get(f"{upstreams.url('orders')}/orders/{order_id}").json()
    answer = await mobile.get(f"/v1/orders/{order_id}", headers=USER)
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [i["product_id"] for i in items] == [line["product_id"] for line in upstream["items"]]
    assert all(i["name"] for i in items)


async def test_order_detail_with_catalog_down_keeps_the_order_and_degrades_names(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    order_id = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=1").json()["items"][0]["id"]
    upstreams.fault("catalog", "*", down=True)
    body = (await mobile.get(f"/v1/orders/{order_id}", headers=USER)).json()
    assert body["degraded"] == ["item_names"]
    assert {i["name"] for i in body["items"]} == {None}


async def test_another_users_order_is_404(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    order_id = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=1").json()["items"][0]["id"]
    answer = await mobile.get(f"/v1/orders/{order_id}", headers={"X-User-Id": "8"})
    assert answer.status_code == 404


async def test_unknown_order_is_404(mobile: httpx.AsyncClient) -> None:
    assert (await mobile.get("/v1/orders/o-999999-999", headers=USER)).status_code == 404


async def test_create_order_returns_201_with_the_order(mobile: httpx.AsyncClient) -> None:
    body = {"items": [{"product_id": 42, "quantity": 2}]}
    answer = await mobile.post("/v1/orders", json=body, headers={**USER, "Idempotency-Key": key()})
    assert answer.status_code == 201
    order = answer.json()
    assert order["status"] == "placed"
    assert order["items"][0]["product_id"] == 42
    assert order["items"][0]["quantity"] == 2
    assert order["items"][0]["name"]


async def test_replaying_a_create_returns_the_same_order_and_creates_nothing(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    headers = {**USER, "Idempotency-Key": key()}
    body = {"items": [{"product_id": 17, "quantity": 1}]}
    first = (await mobile.post("/v1/orders", json=body, headers=headers)).json()
    second = await mobile.post("/v1/orders", json=body, headers=headers)
    assert second.status_code == 201
    assert second.json()["id"] == first["id"]
    listed = (await mobile.get("/v1/orders", params={"limit": 50}, headers=USER)).json()["items"]
    assert [o["id"] for o in listed].count(first["id"]) == 1


async def test_the_same_key_with_a_different_body_is_422(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": key()}
    await mobile.post("/v1/orders", json={"items": [{"product_id": 1, "quantity": 1}]}, headers=headers)
    answer = await mobile.post("/v1/orders", json={"items": [{"product_id": 2, "quantity": 1}]}, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["field"] == "Idempotency-Key"


async def test_create_fails_over_to_region_b_with_its_key(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    upstreams.fault("orders", "eu-west-1", down=True)
    answer = await mobile.post(
        "/v1/orders", json={"items": [{"product_id": 5, "quantity": 1}]}, headers={**USER, "Idempotency-Key": key()}
    )
    assert answer.status_code == 201


async def test_another_users_idempotency_key_places_an_order_of_their_own(
    mobile: httpx.AsyncClient,
) -> None:
    shared_key = key()
    body = {"items": [{"product_id": 11, "quantity": 1}]}
    first = await mobile.post("/v1/orders", json=body, headers={"X-User-Id": "7", "Idempotency-Key": shared_key})
    other = {"items": [{"product_id": 12, "quantity": 3}]}
    second = await mobile.post("/v1/orders", json=other, headers={"X-User-Id": "8", "Idempotency-Key": shared_key})
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["items"][0]["product_id"] == 12
    assert (await mobile.get(f"/v1/orders/{second.json()['id']}", headers={"X-User-Id": "8"})).status_code == 200


async def test_another_user_replaying_the_same_key_and_body_never_gets_the_first_users_order(
    mobile: httpx.AsyncClient,
) -> None:
    shared_key = key()
    body = {"items": [{"product_id": 13, "quantity": 1}]}
    mine = (
        await mobile.post("/v1/orders", json=body, headers={"X-User-Id": "7", "Idempotency-Key": shared_key})
    ).json()
    theirs = await mobile.post("/v1/orders", json=body, headers={"X-User-Id": "8", "Idempotency-Key": shared_key})
    replay = await mobile.post("/v1/orders", json=body, headers={"X-User-Id": "7", "Idempotency-Key": shared_key})
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]
    assert (await mobile.get(f"/v1/orders/{theirs.json()['id']}", headers={"X-User-Id": "7"})).status_code == 404
    assert replay.status_code == 201
    assert replay.json()["id"] == mine["id"]
