from starlette.requests import Request

from shared import json_with_etag
from shared.responses import etag_for


def request_with(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def test_get_answer_carries_a_weak_etag() -> None:
    response = json_with_etag(request_with({}), {"a": 1})
    assert response.status_code == 200
    assert response.headers["etag"] == etag_for(b'{"a":1}')
    assert response.headers["etag"].startswith('W/"')


def test_matching_if_none_match_gets_304_without_body() -> None:
    etag = etag_for(b'{"a":1}')
    response = json_with_etag(request_with({"If-None-Match": f'"other", {etag}'}), {"a": 1})
    assert response.status_code == 304
    assert response.body == b""
    assert response.headers["etag"] == etag


def test_strong_form_of_the_same_tag_matches_too() -> None:
    etag = etag_for(b'{"a":1}').removeprefix("W/")
    assert json_with_etag(request_with({"If-None-Match": etag}), {"a": 1}).status_code == 304


def test_stale_if_none_match_gets_the_full_answer() -> None:
    response = json_with_etag(request_with({"If-None-Match": 'W/"old"'}), {"a": 1})
    assert response.status_code == 200
    assert response.body == b'{"a":1}'
