"""The accounts stand-in's HTTP contract: user profiles."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date

import httpx
import pytest

from upstreams._standin import StandinCluster
from upstreams.accounts import data
from upstreams.accounts.standin import create_standins

EU, CENTRAL = "eu-west-1", "eu-central-1"
ClientFor = Callable[[str, str], httpx.Client]


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"accounts": create_standins([EU, CENTRAL])}) as cluster:
        yield cluster


@pytest.fixture
def accounts(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("accounts", EU)


@pytest.fixture
def accounts_elsewhere(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    """The same stand-in in the other region."""
    return client_for("accounts", CENTRAL)


def test_user_has_the_contract_shape(accounts: httpx.Client) -> None:
    user = accounts.get("/users/7").raise_for_status().json()

    assert set(user) == {"id", "name", "email", "phone", "birth_date", "address", "home_region", "member_since"}
    assert set(user["address"]) == {"street", "city", "postal_code", "country"}
    assert user["id"] == 7
    assert user["home_region"] in {"eu", "us", "apac"}
    assert re.fullmatch(r"[a-z.]+7@example\.com", user["email"])
    assert user["phone"].startswith("+")
    assert date.fromisoformat(user["birth_date"]) < date.fromisoformat(user["member_since"])


@pytest.mark.parametrize("user_id", [1, 1000])
def test_users_one_to_1000_exist(accounts: httpx.Client, user_id: int) -> None:
    assert accounts.get(f"/users/{user_id}").status_code == 200


@pytest.mark.parametrize("user_id", ["0", "1001"])
def test_unknown_user_is_404(accounts: httpx.Client, user_id: str) -> None:
    response = accounts.get(f"/users/{user_id}")

    assert response.status_code == 404
    assert response.json()["error"] == "user_not_found"


def test_non_integer_user_id_is_400(accounts: httpx.Client) -> None:
    assert accounts.get("/users/me").json()["error"] == "invalid_user_id"


def test_user_is_the_same_every_time_and_in_every_region(
    accounts: httpx.Client, accounts_elsewhere: httpx.Client
) -> None:
    first = accounts.get("/users/42").json()
    elsewhere = accounts_elsewhere.get("/users/42").json()

    assert accounts.get("/users/42").json() == first
    assert elsewhere == first


def test_every_email_is_unique() -> None:
    emails = {data.user(user_id)["email"] for user_id in range(1, data.USER_COUNT + 1)}

    assert len(emails) == data.USER_COUNT


def test_users_live_in_every_home_region() -> None:
    regions = {data.user(user_id)["home_region"] for user_id in range(1, 101)}

    assert regions == {"eu", "us", "apac"}


def test_names_and_cities_vary() -> None:
    users = [data.user(user_id) for user_id in range(1, 101)]

    assert len({user["name"] for user in users}) > 50
    assert len({user["address"]["city"] for user in users}) > 10
