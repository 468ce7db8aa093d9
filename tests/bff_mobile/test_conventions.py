"""HTTP conventions every endpoint follows: health, request ids, ETag/304, gzip."""

import httpx

USER = {"X-User-Id": "7"}


async def test_livez_and_readyz_answer_once_started(mobile: httpx.AsyncClient) -> None:
    assert (await mobile.get("/livez")).status_code == 200
    ready = await mobile.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_a_request_id_is_generated_and_echoed(mobile: httpx.AsyncClient) -> None:
    generated = await mobile.get("/livez")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await mobile.get("/livez", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_problems_carry_the_request_id(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/me", headers={"X-Request-Id": "trace-me"})
    assert answer.json()["request_id"] == "trace-me"


async def test_an_unchanged_screen_answers_304_to_its_etag(mobile: httpx.AsyncClient) -> None:
    first = await mobile.get("/v1/products/42")
    again = await mobile.get("/v1/products/42", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_large_bodies_are_gzipped_when_accepted(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/home", headers={**USER, "Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.json()["greeting"].startswith("Hi ")


async def test_a_client_that_does_not_accept_gzip_gets_identity_and_vary(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/v1/home", headers={**USER, "Accept-Encoding": "identity"})
    assert "content-encoding" not in answer.headers
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.json()["greeting"].startswith("Hi ")


async def test_small_bodies_are_not_gzipped(mobile: httpx.AsyncClient) -> None:
    answer = await mobile.get("/livez", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in answer.headers


async def test_openapi_document_is_served(mobile: httpx.AsyncClient) -> None:
    document = (await mobile.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert "/v1/home" in document["paths"]
