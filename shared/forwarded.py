"""The client's address, behind the proxies this process is told to trust.

Two rules:

* A forwarding header is read only when the connection itself comes from a trusted
  network (``server.trusted_proxies``); from anyone else it is ignored, so a client that
  connects directly cannot choose its own address (and its rate-limit bucket).
* The header is walked from the right, past every address in a trusted network (each
  trusted proxy appends the address it got the request from); the first one that is not
  trusted is the client. An entry the walk cannot parse ends it: the address is then the
  nearest trusted hop's, never the unparsed text and never an error.

``server.client_address_header`` names the one header the gateway in front writes:
``x-forwarded-for`` (every ``X-Forwarded-For`` line, in order) or ``forwarded``
(RFC 7239 ``for=``). The other is never read, so a client cannot supply it instead.

    addresses = ClientAddresses([ip_network("10.0.0.0/8")])
    addresses.of(scope)          # "203.0.113.7"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal

from shared.types import Scope

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
ForwardingHeader = Literal["x-forwarded-for", "forwarded"]
UNKNOWN = "unknown"
#: Hops walked at most: more trusted proxies than this in a row is no real deployment.
MAX_HOPS = 32
_FORWARDED_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)
_PORT_SUFFIX = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(.*)$")


def parse_address(text: str) -> Address | None:
    """``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:80``; else ``None``."""
    text = text.strip().strip('"')
    port = ""
    if text.startswith("["):
        end = text.find("]")
        if end == -1 or (end + 1 < len(text) and not text[end + 1 :].startswith(":")):
            return None
        text, port = text[1:end], text[end + 2 :]
    elif (with_port := _PORT_SUFFIX.match(text)) is not None:
        text, port = with_port.group(1), with_port.group(2)
    if port and not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddresses:
    """Works out a request's client address by the module's rules."""

    def __init__(self, trusted_proxies: Sequence[Network], header: ForwardingHeader = "x-forwarded-for") -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self._header = header.encode()

    def is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted_proxies)

    def of(self, scope: Scope) -> str:
        """The client's address as text (``"unknown"`` when the server gave no peer)."""
        client = scope.get("client")
        peer_text = str(client[0]) if client else UNKNOWN
        if not self.trusted_proxies:
            return peer_text
        peer = parse_address(peer_text)
        if peer is None or not self.is_trusted(peer):
            return peer_text
        nearest = peer
        for hop in self._hops(scope):
            address = parse_address(hop)
            if address is None:
                return str(nearest)  # garbage from the first untrusted party: the hop that passed it on
            if not self.is_trusted(address):
                return str(address)
            nearest = address
        return str(nearest)  # every hop trusted: the request began inside the trusted networks

    def _hops(self, scope: Scope) -> list[str]:
        """The header's entries, nearest (right-most) first, at most ``MAX_HOPS``."""
        lines = [value.decode("latin-1") for name, value in scope.get("headers", ()) if name == self._header]
        entries = ",".join(lines).split(",")
        if self._header == b"forwarded":
            entries = [_for_value(entry) for entry in entries]
        return [entry for entry in reversed(entries)][:MAX_HOPS]


def _for_value(element: str) -> str:
    """The ``for=`` of one RFC 7239 element ("" when it has none: not parseable)."""
    found = _FORWARDED_FOR.search(element.strip())
    return found.group(1) if found else ""


__all__ = ["ClientAddresses", "ForwardingHeader", "Network", "parse_address"]
