"""The catalog stand-in's HTTP contract: products by id, batch, related and search."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from upstreams._standin import StandinCluster
from upstreams.catalog.standin import create_standins

EU, CENTRAL = "eu-west-1", "eu-central-1"
ClientFor = Callable[[str, str], httpx.Client]
PRODUCT_KEYS = {"id", "name", "description", "category", "brand", "price_cents", "currency", "image_url", "rating"}


@pytest.fixture(scope="module")
def standin_cluster() -> Iterator[StandinCluster]:
    with StandinCluster({"catalog": create_standins([EU, CENTRAL])}) as cluster:
        yield cluster


@pytest.fixture
def catalog(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    return client_for("catalog", EU)


@pytest.fixture
def catalog_elsewhere(fresh: StandinCluster, client_for: ClientFor) -> httpx.Client:
    """The same stand-in in the other region."""
    return client_for("catalog", CENTRAL)


def test_product_has_the_contract_shape(catalog: httpx.Client) -> None:
    product = catalog.get("/products/42").raise_for_status().json()

    assert set(product) == PRODUCT_KEYS
    assert product["id"] == 42
    assert product["currency"] == "EUR"
    assert product["image_url"] == "https://img.example.com/p/42.jpg"
    assert isinstance(product["price_cents"], int)
    assert product["price_cents"] > 0
    assert 0 <= product["rating"] <= 5
    assert all(product[key] for key in ("name", "description", "category", "brand"))


@pytest.mark.parametrize("product_id", [1, 5000])
def test_products_one_to_5000_exist(catalog: httpx.Client, product_id: int) -> None:
    assert catalog.get(f"/products/{product_id}").status_code == 200


@pytest.mark.parametrize("product_id", [0, 5001, 99999])
def test_unknown_product_is_404(catalog: httpx.Client, product_id: int) -> None:
    response = catalog.get(f"/products/{product_id}")

    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"


def test_non_integer_product_id_is_400(catalog: httpx.Client) -> None:
    response = catalog.get("/products/abc")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_product_id"


def test_product_is_the_same_every_time_and_in_every_region(
    catalog: httpx.Client, catalog_elsewhere: httpx.Client
) -> None:
    first = catalog.get("/products/7").json()
    elsewhere = catalog_elsewhere.get("/products/7").json()

    assert catalog.get("/products/7").json() == first
    assert elsewhere == first


def test_products_differ_from_each_other(catalog: httpx.Client) -> None:
    names = {catalog.get(f"/products/{i}").json()["name"] for i in range(1, 21)}

    assert len(names) > 5


def test_batch_answers_in_the_requested_order(catalog: httpx.Client) -> None:
    items = catalog.get("/products", params={"ids": "3,1,2"}).raise_for_status().json()["items"]

    assert [item["id"] for item in items] == [3, 1, 2]
    assert items[1] == catalog.get("/products/1").json()


def test_batch_omits_unknown_ids(catalog: httpx.Client) -> None:
    items = catalog.get("/products", params={"ids": "1,9999,2"}).json()["items"]

    assert [item["id"] for item in items] == [1, 2]


def test_batch_of_100_ids_is_allowed(catalog: httpx.Client) -> None:
    ids = ",".join(str(i) for i in range(1, 101))

    assert len(catalog.get("/products", params={"ids": ids}).json()["items"]) == 100


def test_batch_of_more_than_100_ids_is_400(catalog: httpx.Client) -> None:
    ids = ",".join(str(i) for i in range(1, 102))

    response = catalog.get("/products", params={"ids": ids})

    assert response.status_code == 400
    assert response.json()["error"] == "too_many_ids"


@pytest.mark.parametrize("ids", ["", "1,,2", "1,x", "1;2", "-1", " 1"])
def test_batch_with_a_malformed_list_is_400(catalog: httpx.Client, ids: str) -> None:
    response = catalog.get("/products", params={"ids": ids})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_ids"


def test_batch_without_ids_is_400(catalog: httpx.Client) -> None:
    assert catalog.get("/products").status_code == 400


def test_related_are_in_the_same_category(catalog: httpx.Client) -> None:
    category = catalog.get("/products/42").json()["category"]

    items = catalog.get("/products/42/related", params={"limit": 10}).json()["items"]

    assert len(items) == 10
    assert {item["category"] for item in items} == {category}


def test_related_never_include_the_product_itself(catalog: httpx.Client) -> None:
    items = catalog.get("/products/42/related", params={"limit": 50}).json()["items"]

    assert 42 not in {item["id"] for item in items}
    assert len({item["id"] for item in items}) == 50


def test_related_default_to_five(catalog: httpx.Client) -> None:
    assert len(catalog.get("/products/42/related").json()["items"]) == 5


def test_related_are_deterministic_and_a_smaller_limit_is_a_prefix(catalog: httpx.Client) -> None:
    ten = catalog.get("/products/9/related", params={"limit": 10}).json()["items"]
    three = catalog.get("/products/9/related", params={"limit": 3}).json()["items"]

    assert catalog.get("/products/9/related", params={"limit": 10}).json()["items"] == ten
    assert three == ten[:3]


@pytest.mark.parametrize("limit", ["0", "51", "x"])
def test_related_limit_outside_1_to_50_is_400(catalog: httpx.Client, limit: str) -> None:
    response = catalog.get("/products/42/related", params={"limit": limit})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_limit"


def test_related_of_an_unknown_product_is_404(catalog: httpx.Client) -> None:
    assert catalog.get("/products/5001/related").status_code == 404


def test_search_matches_name_category_or_brand_ignoring_case(catalog: httpx.Client) -> None:
    answer = catalog.get("/search", params={"q": "SHOE", "limit": 50}).raise_for_status().json()

    assert answer["total"] > 0
    for item in answer["items"]:
        assert "shoe" in f"{item['name']} {item['category']} {item['brand']}".lower()


def test_search_pages_with_limit_and_offset(catalog: httpx.Client) -> None:
    first = catalog.get("/search", params={"q": "jacket", "limit": 4, "offset": 0}).json()
    second = catalog.get("/search", params={"q": "jacket", "limit": 4, "offset": 4}).json()
    both = catalog.get("/search", params={"q": "jacket", "limit": 8, "offset": 0}).json()

    assert first["total"] == second["total"] == both["total"]
    assert first["items"] + second["items"] == both["items"]


def test_search_defaults_to_20_items(catalog: httpx.Client) -> None:
    assert len(catalog.get("/search", params={"q": "e"}).json()["items"]) == 20


def test_search_without_matches_is_empty(catalog: httpx.Client) -> None:
    assert catalog.get("/search", params={"q": "no such thing"}).json() == {"items": [], "total": 0}


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "shoe", "limit": "0"}, {"q": "shoe", "limit": "51"}])
def test_search_with_invalid_parameters_is_400(catalog: httpx.Client, params: dict[str, str]) -> None:
    assert catalog.get("/search", params=params).status_code == 400


def test_catalog_answers_name_their_region(catalog: httpx.Client) -> None:
    assert catalog.get("/products/1").headers["x-served-region"] == EU
