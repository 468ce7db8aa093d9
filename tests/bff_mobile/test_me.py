"""GET /v1/me: the profile, personal data masked."""

import httpx

from tests.support import Standins


async def test_profile_masks_email_phone_and_street(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    raw = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()
    answer = await mobile.get("/v1/me", headers={"X-User-Id": "7"})
    assert answer.status_code == 200
    me = answer.json()
    assert me["email"] == f"{raw['email'][0]}***@{raw['email'].split('@')[1]}"
    assert me["phone"].startswith("*** ")
    assert me["address"]["street"].endswith("***")
    assert me["address"]["city"] == raw["address"]["city"]


async def test_profile_leaks_no_raw_personal_value(mobile: httpx.AsyncClient, upstreams: Standins) -> None:
    raw = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()
    text = (await mobile.get("/v1/me", headers={"X-User-Id": "7"})).text
    for value in (raw["email"], raw["phone"], raw["birth_date"], raw["address"]["street"]):
        assert value not in text


async def test_missing_caller_is_401(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/me")
    assert answer.status_code == 401
    assert answer.json()["field"] == "Authorization"


async def test_malformed_caller_is_400(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/me", headers={"X-User-Id": "seven"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "X-User-Id"
