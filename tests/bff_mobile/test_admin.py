"""The admin API: token-protected views of effective config and live breakers, on a
listener of its own (admin.port), never on the public port."""

import httpx
import pytest

from tests.support import ADMIN, ADMIN_TOKEN, Standins, mobile_settings, serve_mobile


@pytest.mark.parametrize("path", ["/admin/breakers", "/admin/config", "/admin", "/admin/nothing-here"])
async def test_the_admin_api_is_not_served_on_the_public_port(mobile: httpx.AsyncClient, path: str) -> None:
    answer = await mobile.get(path, headers=ADMIN)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:problem-type:bff:not-found"
    assert answer.json()["detail"] == f"no route for GET {path}"  # as any unknown path: no hint


async def test_a_write_to_the_admin_api_on_the_public_port_changes_nothing(
    mobile: httpx.AsyncClient, mobile_admin: httpx.AsyncClient
) -> None:
    forced = await mobile.put("/admin/breakers/accounts/eu-west-1", json={"force": "open"}, headers=ADMIN)
    assert forced.status_code == 404
    breakers = (await mobile_admin.get("/admin/breakers", headers=ADMIN)).json()
    assert {b["forced"] for b in breakers} == {None}


@pytest.mark.parametrize("path", ["/v1/me", "/v1/products/42", "/openapi.json", "/"])
async def test_the_public_api_is_not_served_on_the_admin_port(mobile_admin: httpx.AsyncClient, path: str) -> None:
    answer = await mobile_admin.get(path, headers={"X-User-Id": "7"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
async def test_probes_and_metrics_answer_on_both_listeners(
    mobile: httpx.AsyncClient, mobile_admin: httpx.AsyncClient, path: str
) -> None:
    assert (await mobile.get(path)).status_code == 200
    assert (await mobile_admin.get(path)).status_code == 200


async def test_admin_without_token_is_401(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.get("/admin/breakers")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


async def test_admin_with_a_wrong_token_is_401(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.get("/admin/breakers", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401


async def test_admin_with_no_token_configured_is_403_to_everyone(upstreams: Standins) -> None:
    with serve_mobile(mobile_settings(upstreams, admin={"port": 0})) as url:
        async with httpx.AsyncClient(base_url=url.admin, timeout=10) as admin:
            answer = await admin.get("/admin/breakers", headers=ADMIN)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def test_admin_on_the_public_port_when_opted_in_still_needs_the_token(upstreams: Standins) -> None:
    with serve_mobile(mobile_settings(upstreams, admin={"token": ADMIN_TOKEN, "port": None})) as url:
        assert url.admin == url
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/admin/breakers")).status_code == 401
            assert (await client.get("/admin/breakers", headers=ADMIN)).status_code == 200
            assert (await client.get("/v1/products/42")).status_code == 200


async def test_effective_config_redacts_the_token_and_shows_merged_policies(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.get("/admin/config", headers=ADMIN)
    assert answer.status_code == 200
    assert ADMIN_TOKEN not in answer.text
    body = answer.json()
    assert body["settings"]["admin"]["token"] == "**********"
    catalog = body["effective_upstreams"]["catalog"]
    assert list(catalog["regions"]) == ["eu-west-1", "eu-central-1"]
    assert catalog["operations"]["get_product"]["attempt_timeout"] == 0.6


async def test_breakers_are_listed_per_upstream_and_region(mobile_admin: httpx.AsyncClient) -> None:
    breakers = (await mobile_admin.get("/admin/breakers", headers=ADMIN)).json()
    pairs = {(b["upstream"], b["region"]) for b in breakers}
    assert ("catalog", "eu-west-1") in pairs
    assert ("orders", "eu-central-1") in pairs
    assert len(pairs) == 12  # six upstreams (the identity provider included) × two regions
    assert {b["state"] for b in breakers} == {"closed"}


async def test_forcing_a_breaker_open_moves_traffic_to_the_next_region(
    mobile: httpx.AsyncClient, mobile_admin: httpx.AsyncClient, upstreams: Standins
) -> None:
    forced = await mobile_admin.put("/admin/breakers/accounts/eu-west-1", json={"force": "open"}, headers=ADMIN)
    assert forced.status_code == 200
    assert (forced.json()["state"], forced.json()["forced"]) == ("open", "open")
    assert (await mobile.get("/v1/me", headers={"X-User-Id": "7"})).status_code == 200
    assert upstreams.requests("accounts", "eu-west-1") == 0
    assert upstreams.requests("accounts", "eu-central-1") == 1
    served = (await mobile_admin.get("/admin/upstreams", headers=ADMIN)).json()["accounts"]["served_by_region"]
    assert served["get_user"]["eu-central-1"] >= 1


async def test_forcing_an_unknown_breaker_is_404(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.put("/admin/breakers/accounts/mars-1", json={"force": "open"}, headers=ADMIN)
    assert answer.status_code == 404


async def test_forcing_with_a_bad_body_is_422(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.put("/admin/breakers/accounts/eu-west-1", json={"force": "sideways"}, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["field"] == "force"


async def test_reload_without_a_config_file_is_refused(mobile_admin: httpx.AsyncClient) -> None:
    answer = await mobile_admin.post("/admin/reload", headers=ADMIN)
    assert answer.status_code == 422


async def test_the_admin_token_is_not_mistaken_for_a_user_jwt(upstreams: Standins) -> None:
    with serve_mobile(mobile_settings(upstreams, auth={"mode": "jwt"})) as url:
        async with httpx.AsyncClient(base_url=url.admin, timeout=10) as admin:
            assert (await admin.get("/admin/breakers", headers=ADMIN)).status_code == 200
            assert (await admin.get("/admin/breakers", headers={"Authorization": "Bearer nope"})).status_code == 401
