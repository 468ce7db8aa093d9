"""The client's address: forwarding headers count only from trusted proxies, walked from
the right past trusted hops; anything unparseable falls back to the nearest trusted hop."""

from ipaddress import ip_network

import pytest

from shared.forwarded import MAX_HOPS, ClientAddresses, ForwardingHeader, parse_address
from shared.types import Scope

GATEWAY = ["10.0.0.0/8", "::1/128"]


def scope(peer: str | None, *headers: tuple[str, str]) -> Scope:
    return {
        "type": "http",
        "client": (peer, 50000) if peer else None,
        "headers": [(name.lower().encode(), value.encode("latin-1")) for name, value in headers],
    }


def behind(trusted: list[str], header: ForwardingHeader = "x-forwarded-for") -> ClientAddresses:
    return ClientAddresses([ip_network(network) for network in trusted], header)


def test_with_no_trusted_proxies_the_peer_is_the_client_whatever_it_sends() -> None:
    assert behind([]).of(scope("203.0.113.9", ("X-Forwarded-For", "198.51.100.1"))) == "203.0.113.9"


def test_a_peer_outside_the_trusted_networks_cannot_name_another_client() -> None:
    request = scope("203.0.113.9", ("X-Forwarded-For", "198.51.100.1"), ("Forwarded", "for=198.51.100.2"))
    assert behind(GATEWAY).of(request) == "203.0.113.9"
    assert behind(GATEWAY, "forwarded").of(request) == "203.0.113.9"


def test_from_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() -> None:
    request = scope("10.1.2.3", ("X-Forwarded-For", "1.1.1.1, 198.51.100.7, 10.9.9.9"))
    assert behind(GATEWAY).of(request) == "198.51.100.7"


def test_every_x_forwarded_for_line_counts_in_order() -> None:
    request = scope("10.1.2.3", ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.7"))
    assert behind(GATEWAY).of(request) == "198.51.100.7"


def test_forwarded_for_is_read_when_it_is_the_configured_header() -> None:
    value = 'for=6.6.6.6, for="[2001:db8::17]:4711";proto=https, by=10.0.0.1;for=10.2.2.2'
    assert behind(GATEWAY, "forwarded").of(scope("10.1.2.3", ("Forwarded", value))) == "2001:db8::17"


def test_the_header_that_is_not_configured_is_ignored() -> None:
    request = scope("10.1.2.3", ("Forwarded", "for=198.51.100.7"))
    assert behind(GATEWAY).of(request) == "10.1.2.3"
    assert behind(GATEWAY, "forwarded").of(scope("10.1.2.3", ("X-Forwarded-For", "198.51.100.7"))) == "10.1.2.3"


def test_ports_brackets_and_mapped_addresses_are_normalised() -> None:
    request = scope("::1", ("X-Forwarded-For", "198.51.100.7:443"))
    assert behind(GATEWAY).of(request) == "198.51.100.7"
    assert behind(GATEWAY).of(scope("::1", ("X-Forwarded-For", "[2001:DB8::1]:80"))) == "2001:db8::1"
    assert behind(GATEWAY).of(scope("::ffff:10.0.0.5", ("X-Forwarded-For", "198.51.100.8"))) == "198.51.100.8"


@pytest.mark.parametrize(
    "value",
    [
        "",
        ",",
        "not an address",
        "198.51.100.7, garbage",
        "unknown",
        "999.1.1.1",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "1.2.3.4:99999",
        "\x00\xff",
        "a" * 5000,
    ],
)
def test_a_malformed_entry_falls_back_to_the_nearest_trusted_hop(value: str) -> None:
    assert behind(GATEWAY).of(scope("10.1.2.3", ("X-Forwarded-For", value))) == "10.1.2.3"


def test_garbage_behind_a_trusted_hop_stops_at_that_hop() -> None:
    request = scope("10.1.2.3", ("X-Forwarded-For", "garbage, 10.4.4.4"))
    assert behind(GATEWAY).of(request) == "10.4.4.4"


def test_a_request_from_inside_the_trusted_networks_is_its_first_hop() -> None:
    assert behind(GATEWAY).of(scope("10.1.2.3", ("X-Forwarded-For", "10.7.7.7, 10.8.8.8"))) == "10.7.7.7"


def test_the_walk_is_bounded() -> None:
    hops = ", ".join(["198.51.100.7"] + ["10.0.0.9"] * (MAX_HOPS + 5))
    assert behind(GATEWAY).of(scope("10.1.2.3", ("X-Forwarded-For", hops))) == "10.0.0.9"


def test_no_peer_is_unknown() -> None:
    assert behind(GATEWAY).of(scope(None, ("X-Forwarded-For", "198.51.100.7"))) == "unknown"


def test_an_unparseable_peer_is_never_trusted() -> None:
    assert behind(GATEWAY).of(scope("unix-socket", ("X-Forwarded-For", "198.51.100.7"))) == "unix-socket"


@pytest.mark.parametrize(("text", "parsed"), [("1.2.3.4", "1.2.3.4"), (" 1.2.3.4:80 ", "1.2.3.4"), ("::1", "::1")])
def test_parse_address(text: str, parsed: str) -> None:
    assert str(parse_address(text)) == parsed
