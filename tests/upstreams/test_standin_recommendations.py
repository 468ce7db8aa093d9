"""The recommendations stand-in's HTTP contract: products picked for a user."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from upstreams._standin import StandinCluster
from upstreams.recommendations.standin import create_standins

EU, CENTRAL = "eu-west-1", "eu-central-1"
ClientFor = Callable[[str, str], httpx.Client]


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"recommendations": create_standins([EU, CENTRAL])}) as cluster:
        yield cluster


@pytest.fixture
def recommendations(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("recommendations", EU)


@pytest.fixture
def recommendations_elsewhere(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    """The same stand-in in the other region."""
    return client_for("recommendations", CENTRAL)


def test_recommendations_have_the_contract_shape(recommendations: httpx.Client) -> None:
    items = recommendations.get("/users/7/recommendations").raise_for_status().json()["items"]

    assert len(items) == 10
    for item in items:
        assert set(item) == {"product_id", "score"}
        assert 1 <= item["product_id"] <= 5000
        assert 0 <= item["score"] <= 1


def test_recommendations_are_distinct_products_best_first(recommendations: httpx.Client) -> None:
    items = recommendations.get("/users/7/recommendations", params={"limit": 50}).json()["items"]
    scores = [item["score"] for item in items]

    assert len({item["product_id"] for item in items}) == 50
    assert scores == sorted(scores, reverse=True)


def test_a_smaller_limit_is_a_prefix(recommendations: httpx.Client) -> None:
    many = recommendations.get("/users/3/recommendations", params={"limit": 20}).json()["items"]
    few = recommendations.get("/users/3/recommendations", params={"limit": 5}).json()["items"]

    assert few == many[:5]


def test_recommendations_are_the_same_every_time_and_in_every_region(
    recommendations: httpx.Client, recommendations_elsewhere: httpx.Client
) -> None:
    first = recommendations.get("/users/11/recommendations").json()
    elsewhere = recommendations_elsewhere.get("/users/11/recommendations").json()

    assert recommendations.get("/users/11/recommendations").json() == first
    assert elsewhere == first


def test_users_get_different_recommendations(recommendations: httpx.Client) -> None:
    first = recommendations.get("/users/1/recommendations").json()
    second = recommendations.get("/users/2/recommendations").json()

    assert first != second


@pytest.mark.parametrize("limit", ["0", "51", "ten"])
def test_limit_outside_1_to_50_is_400(recommendations: httpx.Client, limit: str) -> None:
    response = recommendations.get("/users/7/recommendations", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_limit"
