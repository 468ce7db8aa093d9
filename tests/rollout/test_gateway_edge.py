"""What the shipped HAProxy config enforces in front of a BFF, through the real haproxy:
a deadline for a request's headers (slowloris), and the client's address in
X-Forwarded-For, written by the gateway alone."""

import shutil
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from bff_mobile.settings import MobileSettings
from shared.cli.rollout.gateway import Gateway, Route
from tests.rollout.support import free_ports
from tests.support import Standins, mobile_config, serve_mobile

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (.ci/run installs it)")

#: Far above the config's 5 s header timeout: the test asserts the close, not its speed.
BOUNDED_WAIT_S = 60


@pytest.fixture
def gateway(upstreams: Standins) -> Iterator[Gateway]:
    config = mobile_config(upstreams, server={"trusted_proxies": ["127.0.0.1/32"]})  # the gateway's own address
    config["rate_limit"] = {"enabled": True, "per_client": {"per_second": 0.01, "burst": 3}}
    with serve_mobile(MobileSettings.model_validate(config)) as url:
        public, canary = free_ports(2)  # nothing listens on the canary slot
        stable = int(url.rsplit(":", 1)[1])
        with Gateway([Route("mobile", public, stable, canary)]) as running:
            deadline = time.monotonic() + 20
            while running.server_state("mobile", "stable") != "UP" or not _serves(running.url("mobile")):
                assert time.monotonic() < deadline, "the gateway never saw the BFF up"
                time.sleep(0.1)
            yield running


def _serves(url: str) -> bool:
    try:
        return httpx.get(f"{url}/livez", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def anonymous_codes(url: str, source: str, count: int, headers: dict[str, str] | None = None) -> list[int]:
    """``count`` anonymous requests to ``url``, from the loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return [client.get(f"{url}/v1/products/42", headers=headers).status_code for _ in range(count)]


def test_a_connection_that_never_finishes_its_headers_is_closed_by_the_gateway(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.routes["mobile"].public_port), timeout=BOUNDED_WAIT_S) as sock:
        sock.sendall(b"GET /v1/products/42 HTTP/1.1\r\nHost: mobile\r\n")
        answer = b""
        started = time.monotonic()
        while time.monotonic() - started < BOUNDED_WAIT_S:
            try:
                sock.sendall(b"X-Drip: 1\r\n")  # a header line now and then, never the blank line
            except OSError:
                break  # closed: the gateway gave up on the request
            sock.settimeout(1.0)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        else:
            pytest.fail(f"the gateway held an unfinished request open for {BOUNDED_WAIT_S}s")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]


def test_two_anonymous_clients_behind_the_gateway_have_buckets_of_their_own(gateway: Gateway) -> None:
    url = gateway.url("mobile")
    assert anonymous_codes(url, "127.0.0.2", 4) == [200, 200, 200, 429]
    assert anonymous_codes(url, "127.0.0.3", 3) == [200, 200, 200]


def test_a_client_cannot_choose_its_bucket_with_its_own_x_forwarded_for(gateway: Gateway) -> None:
    url = gateway.url("mobile")
    codes = [
        anonymous_codes(
            url, "127.0.0.4", 1, {"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"}
        )[0]
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]


def test_the_gateway_refuses_a_request_without_host(gateway: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", gateway.routes["mobile"].public_port), timeout=10) as sock:
        sock.sendall(b"GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
