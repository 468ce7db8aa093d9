"""GET /v1/home against real stand-ins over loopback."""

import httpx

from tests.support import Standins

USER = {"X-User-Id": "7"}


async def test_home_greets_the_user_by_first_name(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    profile = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 200
    assert answer.json()["greeting"] == f"Hi {profile['name'].split()[0]}"


async def test_home_shows_the_last_three_orders_newest_first(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    upstream_orders = upstreams.http.get(f"{upstreams.url('orders')}/users/7/orders?limit=3").json()["items"]
    body = (await mobile.get("/v1/home", headers=USER)).json()
    assert [o["id"] for o in body["orders"]] == [o["id"] for o in upstream_orders]
    first = body["orders"][0]
    cents = upstream_orders[0]["total_cents"]
    assert first["total"] == {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": upstream_orders[0]["currency"]}


async def test_home_recommends_ten_products_with_price_and_stock(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    picks = upstreams.http.get(f"{upstreams.url('recommendations')}/users/7/recommendations?limit=10").json()
    body = (await mobile.get("/v1/home", headers=USER)).json()
    assert [p["id"] for p in body["recommended"]] == [p["product_id"] for p in picks["items"]]
    assert len(body["recommended"]) == 10
    assert all(isinstance(p["in_stock"], bool) and p["price"]["amount"] for p in body["recommended"])
    assert body["degraded"] == []


async def test_home_fans_out_five_calls_one_per_upstream(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    await mobile.get("/v1/home", headers=USER)
    calls = {name: upstreams.requests(name) for name in upstreams.region_names if name != "identity"}
    assert calls == {"accounts": 1, "catalog": 1, "inventory": 1, "orders": 1, "recommendations": 1}


async def test_recommendations_down_degrades_the_section_with_200(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", error_rate=1.0, error_status=503)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 200
    body = answer.json()
    assert body["recommended"] == []
    assert body["degraded"] == ["recommendations"]
    assert body["orders"]


async def test_recommendations_answering_garbage_degrades_the_section(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", garbage=True)
    body = (await mobile.get("/v1/home", headers=USER)).json()
    assert body["degraded"] == ["recommendations"]


async def test_stock_down_leaves_in_stock_unknown_but_keeps_the_products(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("inventory", "*", down=True)
    body = (await mobile.get("/v1/home", headers=USER)).json()
    assert len(body["recommended"]) == 10
    assert {p["in_stock"] for p in body["recommended"]} == {None}


async def test_stock_down_inside_the_recommended_cards_is_named_degraded(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("inventory", "*", error_rate=1.0, error_status=503)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 200
    assert answer.json()["degraded"] == ["recommendations.stock"]


async def test_catalog_down_inside_the_recommendations_degrades_the_whole_section(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("catalog", "*", down=True)
    body = (await mobile.get("/v1/home", headers=USER)).json()
    assert (body["recommended"], body["degraded"]) == ([], ["recommendations"])


async def test_a_required_upstream_down_is_a_problem_not_a_stack_trace(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("accounts", "*", down=True)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:problem-type:bff:upstream-unavailable"
    assert "accounts" in problem["detail"]
    assert "127.0.0.1" not in answer.text and "Traceback" not in answer.text


async def test_a_required_upstream_answering_the_wrong_shape_is_a_502(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("orders", "*", wrong_shape=True)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 502
    assert answer.json()["type"] == "urn:problem-type:bff:upstream-bad-response"


async def test_region_a_down_is_served_from_region_b(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    for name in upstreams.region_names:
        upstreams.fault(name, "eu-west-1", down=True)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 200
    assert answer.json()["degraded"] == []
    assert upstreams.requests("accounts", "eu-central-1") == 1


async def test_a_hanging_optional_upstream_ends_within_the_deadline(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", hang=True)
    answer = await mobile.get("/v1/home", headers=USER)
    assert answer.status_code == 200
    assert answer.json()["degraded"] == ["recommendations"]


async def test_unknown_user_is_404(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/home", headers={"X-User-Id": "999999"})
    assert answer.status_code == 404
    assert answer.json()["type"] == "urn:problem-type:bff:not-found"


async def test_a_second_home_is_answered_from_the_screen_cache_and_another_users_is_their_own(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    first = await mobile.get("/v1/home", headers=USER)
    asked = {name: upstreams.requests(name) for name in upstreams.region_names}
    again = await mobile.get("/v1/home", headers=USER)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert {name: upstreams.requests(name) for name in upstreams.region_names} == asked
    revalidated = await mobile.get("/v1/home", headers={**USER, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304
    other = await mobile.get("/v1/home", headers={"X-User-Id": "8"})
    profile = upstreams.http.get(f"{upstreams.url('accounts')}/users/8").json()
    assert other.json()["greeting"] == f"Hi {profile['name'].split()[0]}"
