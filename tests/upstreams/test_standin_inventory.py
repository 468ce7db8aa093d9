"""The inventory stand-in's HTTP contract: stock per product per stock region."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from upstreams._standin import StandinCluster
from upstreams.inventory import data
from upstreams.inventory.standin import create_standins

EU, CENTRAL = "eu-west-1", "eu-central-1"
ClientFor = Callable[[str, str], httpx.Client]


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"inventory": create_standins([EU, CENTRAL])}) as cluster:
        yield cluster


@pytest.fixture
def inventory(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("inventory", EU)


@pytest.fixture
def inventory_elsewhere(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    """The same stand-in in the other region."""
    return client_for("inventory", CENTRAL)


def test_stock_answers_each_requested_product_in_order(inventory: httpx.Client) -> None:
    items = inventory.get("/stock", params={"ids": "3,1,2", "region": "us"}).raise_for_status().json()["items"]

    assert [item["product_id"] for item in items] == [3, 1, 2]
    for item in items:
        assert set(item) == {"product_id", "region", "available"}
        assert item["region"] == "us"
        assert isinstance(item["available"], int)
        assert item["available"] >= 0


def test_stock_omits_ids_that_are_not_catalog_products(inventory: httpx.Client) -> None:
    items = inventory.get("/stock", params={"ids": "0,1,5000,5001", "region": "eu"}).json()["items"]

    assert [item["product_id"] for item in items] == [1, 5000]


def test_stock_is_the_same_every_time_and_in_every_region(
    inventory: httpx.Client, inventory_elsewhere: httpx.Client
) -> None:
    params = {"ids": "1,2,3,4,5", "region": "apac"}
    first = inventory.get("/stock", params=params).json()
    elsewhere = inventory_elsewhere.get("/stock", params=params).json()

    assert inventory.get("/stock", params=params).json() == first
    assert elsewhere == first


def test_about_15_percent_of_products_are_out_of_stock() -> None:
    levels = [data.available(product_id, "eu") for product_id in range(1, 5001)]
    share_out = sum(level == 0 for level in levels) / len(levels)

    assert 0.12 <= share_out <= 0.18


@pytest.mark.parametrize("region", [None, "", "EU", "mars"])
def test_unknown_stock_region_is_400(inventory: httpx.Client, region: str | None) -> None:
    params = {"ids": "1"} if region is None else {"ids": "1", "region": region}

    response = inventory.get("/stock", params=params)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_region"


def test_more_than_100_ids_is_400(inventory: httpx.Client) -> None:
    ids = ",".join(str(i) for i in range(1, 102))

    assert inventory.get("/stock", params={"ids": ids, "region": "eu"}).status_code == 400


def test_malformed_ids_are_400(inventory: httpx.Client) -> None:
    assert inventory.get("/stock", params={"ids": "1,a", "region": "eu"}).json()["error"] == "invalid_ids"
