"""Every kind of bad input gets a precise 4xx problem naming the field; never a 500."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import ADMIN

USER = {"X-User-Id": "7"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "51"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": " 7"}, "limit"),
        ({"limit": "1_0"}, "limit"),
        ({"limit": "\u0667"}, "limit"),  # an Arabic-Indic seven: int() would take it
        ({"limit": "9" * 5000}, "limit"),
        ({"limit": "-99999999999999999999"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
async def test_malformed_paging_is_400_naming_the_field(
    mobile: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    answer = await mobile.get("/v1/orders", params=params, headers=USER)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


async def test_create_without_idempotency_key_is_400(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.post("/v1/orders", json={"items": [{"product_id": 1, "quantity": 1}]}, headers=USER)
    assert answer.status_code == 400
    assert answer.json()["field"] == "Idempotency-Key"


async def test_malformed_idempotency_key_is_400(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "has spaces!"}
    answer = await mobile.post("/v1/orders", json={"items": [{"product_id": 1, "quantity": 1}]}, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == "Idempotency-Key"


async def test_two_idempotency_keys_are_400_never_a_choice(mobile: httpx.AsyncClient) -> None:
    headers = [(b"X-User-Id", b"7"), (b"Idempotency-Key", b"k-first"), (b"Idempotency-Key", b"k-second")]
    answer = await mobile.post("/v1/orders", json={"items": [{"product_id": 1, "quantity": 1}]}, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == "Idempotency-Key" and "once" in answer.json()["detail"]


async def test_body_that_is_not_json_is_400(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "k-bad-json", "Content-Type": "application/json"}
    answer = await mobile.post("/v1/orders", content=b"{not json", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/jsonx",
        "application/json, text/plain",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "application/json; charset=utf-8; charset=utf-8",
        "application/json; boundary=x",
        "application/json-patch+json",
        'application/json; charset="utf-8',
        "multipart/form-data; boundary=x",
    ],
)
async def test_a_body_not_sent_as_application_json_is_415(mobile: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {**USER, "Idempotency-Key": "k-media-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = await mobile.post("/v1/orders", content=b'{"items": [{"product_id": 1, "quantity": 1}]}', headers=headers)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:problem-type:bff:unsupported-media-type"
    assert answer.json()["field"] == "Content-Type"


async def test_a_utf16_body_declared_as_such_is_415_not_decoded(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "k-utf16", "Content-Type": "application/json; charset=utf-16"}
    body = '{"items": [{"product_id": 1, "quantity": 1}]}'.encode("utf-16")
    assert (await mobile.post("/v1/orders", content=body, headers=headers)).status_code == 415


async def test_two_content_type_headers_are_415(mobile: httpx.AsyncClient) -> None:
    headers = [
        (b"X-User-Id", b"7"),
        (b"Idempotency-Key", b"k-two-types"),
        (b"Content-Type", b"application/json"),
        (b"Content-Type", b"text/plain"),
    ]
    answer = await mobile.post("/v1/orders", content=b'{"items": [{"product_id": 1, "quantity": 1}]}', headers=headers)
    assert answer.status_code == 415


@pytest.mark.parametrize("coding", ["gzip", "br", "identity, gzip", "x-unknown"])
async def test_a_body_with_a_content_coding_is_415_not_read_as_json(mobile: httpx.AsyncClient, coding: str) -> None:
    headers = {**USER, "Idempotency-Key": "k-coded", "Content-Type": "application/json", "Content-Encoding": coding}
    answer = await mobile.post("/v1/orders", content=b'{"items": [{"product_id": 1, "quantity": 1}]}', headers=headers)
    assert answer.status_code == 415
    assert answer.json()["field"] == "Content-Encoding"


async def test_the_identity_coding_is_accepted(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}
    headers["Content-Encoding"] = "identity"
    answer = await mobile.post("/v1/orders", content=b'{"items": [{"product_id": 3, "quantity": 1}]}', headers=headers)
    assert answer.status_code == 201


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON", "application/json; charset=utf-8", 'application/json;charset="UTF-8"'],
)
async def test_application_json_in_any_case_with_a_utf8_charset_is_accepted(
    mobile: httpx.AsyncClient, content_type: str
) -> None:
    headers = {**USER, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": content_type}
    answer = await mobile.post("/v1/orders", content=b'{"items": [{"product_id": 3, "quantity": 1}]}', headers=headers)
    assert answer.status_code == 201


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b'"items"', b"42", b"null", b"true"])
async def test_a_json_body_that_is_not_an_object_is_422_naming_the_body(mobile: httpx.AsyncClient, body: bytes) -> None:
    headers = {**USER, "Idempotency-Key": "k-not-object", "Content-Type": "application/json"}
    answer = await mobile.post("/v1/orders", content=body, headers=headers)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == "body"


async def test_an_empty_json_body_is_400(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "k-empty", "Content-Type": "application/json"}
    answer = await mobile.post("/v1/orders", content=b"", headers=headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/admin/breakers/catalog/eu-west-1"), ("POST", "/admin/cache/invalidate")]
)
async def test_admin_bodies_not_sent_as_application_json_are_415(
    mobile_admin: httpx.AsyncClient, method: str, path: str
) -> None:
    headers = {**ADMIN, "Content-Type": "text/plain"}
    answer = await mobile_admin.request(method, path, content=b'{"entity": "product:42"}', headers=headers)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [{"product_id": 1, "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"product_id": "x", "quantity": 1}]}, "items.0.product_id"),
    ],
)
async def test_body_of_the_wrong_shape_is_422_naming_the_field(
    mobile: httpx.AsyncClient, body: object, field: str
) -> None:
    headers = {**USER, "Idempotency-Key": "k-wrong-shape"}
    answer = await mobile.post("/v1/orders", json=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["field"] == field


async def test_unknown_product_in_an_order_is_422(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "k-unknown-product"}
    answer = await mobile.post("/v1/orders", json={"items": [{"product_id": 99999, "quantity": 1}]}, headers=headers)
    assert answer.status_code == 422


async def test_oversized_body_is_413(mobile: httpx.AsyncClient) -> None:
    headers = {**USER, "Idempotency-Key": "k-too-big", "Content-Type": "application/json"}
    answer = await mobile.post("/v1/orders", content=b" " * (65 * 1024), headers=headers)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


async def test_oversized_chunked_body_is_413(mobile: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b" " * 1024

    headers = {**USER, "Idempotency-Key": "k-too-big-chunked", "Content-Type": "application/json"}
    answer = await mobile.post("/v1/orders", content=chunks(), headers=headers)
    assert answer.status_code == 413


async def test_unknown_route_is_a_404_problem(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_wrong_method_is_a_405_problem(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.delete("/v1/home", headers=USER)
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"


async def test_wrong_method_on_a_path_of_two_endpoints_allows_both(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.put("/v1/orders", headers=USER)
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}  # a set in Starlette


@pytest.mark.parametrize("user", ["²", "1000000000", "0"])
async def test_a_user_id_that_is_not_one_is_400_naming_the_header(mobile: httpx.AsyncClient, user: str) -> None:
    # "²" passes str.isdigit() but not int(); 10 digits do not fit in an order id.
    answer = await mobile.get("/v1/me", headers={b"X-User-Id": user.encode("latin-1")})
    assert answer.status_code == 400
    assert answer.json()["field"] == "X-User-Id"


@pytest.mark.parametrize("product_id", ["%C2%B2", "%D9%A1", "1000000000000"])
async def test_a_product_id_that_is_not_one_is_400_naming_it(mobile: httpx.AsyncClient, product_id: str) -> None:
    answer = await mobile.get(f"/v1/products/{product_id}")
    assert answer.status_code == 400
    assert answer.json()["field"] == "product_id"


async def test_an_order_id_with_a_trailing_newline_is_400(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/orders/o-000007-001%0A", headers=USER)
    assert answer.status_code == 400
    assert answer.json()["field"] == "order_id"


@pytest.mark.parametrize(("path", "params"), [("/v1/products/42", {"region": ""}), ("/v1/orders", {"limit": ""})])
async def test_an_empty_query_parameter_reads_as_absent(
    mobile: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    answer = await mobile.get(path, params=params, headers=USER)
    assert answer.status_code == 200
