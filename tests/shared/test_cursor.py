import pytest

from shared import BadRequest
from shared.cursor import decode_cursor, encode_cursor


def test_a_cursor_round_trips_the_upstream_position() -> None:
    assert decode_cursor(encode_cursor("o-000007-004")) == "o-000007-004"


def test_the_cursor_does_not_show_the_position_in_clear() -> None:
    assert "o-000007" not in encode_cursor("o-000007-004")


@pytest.mark.parametrize("cursor", ["!!!", "abc", "eyJ2IjoyLCJwIjoieCJ9", "x" * 600, "ünï"])
def test_malformed_cursors_are_a_bad_request_naming_the_field(cursor: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_cursor(cursor)
    assert caught.value.field == "cursor"
