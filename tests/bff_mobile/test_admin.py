"""The admin API: token-protected views of effective config and live breakers."""

import httpx

from tests.support import ADMIN, ADMIN_TOKEN, Standins


async def test_admin_without_token_is_401(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/admin/breakers")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


async def test_admin_with_a_wrong_token_is_401(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/admin/breakers", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401


async def test_effective_config_redacts_the_token_and_shows_merged_policies(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/admin/config", headers=ADMIN)
    assert answer.status_code == 200
    assert ADMIN_TOKEN not in answer.text
    body = answer.json()
    assert body["settings"]["admin"]["token"] == "**********"
    catalog = body["effective_upstreams"]["catalog"]
    assert list(catalog["regions"]) == ["eu-west-1", "eu-central-1"]
    assert catalog["operations"]["get_product"]["attempt_timeout"] == 0.6


async def test_breakers_are_listed_per_upstream_and_region(mobile: httpx.AsyncClient) -> None:
    breakers = (await mobile.get("/admin/breakers", headers=ADMIN)).json()
    pairs = {(b["upstream"], b["region"]) for b in breakers}
    assert ("catalog", "eu-west-1") in pairs
    assert ("orders", "eu-central-1") in pairs
    assert len(pairs) == 12  # six upstreams (the identity provider included) × two regions
    assert {b["state"] for b in breakers} == {"closed"}


async def test_forcing_a_breaker_open_moves_traffic_to_the_next_region(
    mobile: httpx.AsyncClient, upstreams: Standins
) -> None:
    forced = await mobile.put("/admin/breakers/accounts/eu-west-1", json={"force": "open"}, headers=ADMIN)
    assert forced.status_code == 200
    assert (forced.json()["state"], forced.json()["forced"]) == ("open", "open")
    assert (await mobile.get("/v1/me", headers={"X-User-Id": "7"})).status_code == 200
    assert upstreams.requests("accounts", "eu-west-1") == 0
    assert upstreams.requests("accounts", "eu-central-1") == 1
    served = (await mobile.get("/admin/upstreams", headers=ADMIN)).json()["accounts"]["served_by_region"]
    assert served["get_user"]["eu-central-1"] >= 1


async def test_forcing_an_unknown_breaker_is_404(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.put("/admin/breakers/accounts/mars-1", json={"force": "open"}, headers=ADMIN)
    assert answer.status_code == 404


async def test_forcing_with_a_bad_body_is_422(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.put("/admin/breakers/accounts/eu-west-1", json={"force": "sideways"}, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["field"] == "force"


async def test_reload_without_a_config_file_is_refused(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.post("/admin/reload", headers=ADMIN)
    assert answer.status_code == 422
