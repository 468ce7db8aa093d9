"""Security headers, header size limits and CORS on a real bff_web."""

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support import Standins, serve_web, web_settings


@pytest.fixture(scope="module")
def hardened(standins: Standins) -> Iterator[str]:
    server = {"cors_origins": ["https://shop.example"], "max_header_bytes": 4096}
    with serve_web(web_settings(standins, server=server)) as url:
        yield url


async def test_every_answer_carries_the_security_headers(hardened: str) -> None:
    async with httpx.AsyncClient(base_url=hardened, timeout=10) as client:
        for path in ("/v1/products/42", "/v1/nothing", "/livez"):
            headers = (await client.get(path)).headers
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert "default-src 'none'" in headers["content-security-policy"]


async def test_oversized_headers_get_431(hardened: str) -> None:
    async with httpx.AsyncClient(base_url=hardened, timeout=10) as client:
        answer = await client.get("/v1/products/42", headers={"X-Padding": "x" * 5000})
    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"


async def test_cors_allows_only_the_configured_origins(hardened: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with httpx.AsyncClient(base_url=hardened, timeout=10) as client:
        allowed = await client.options("/graphql", headers={"Origin": "https://shop.example", **preflight})
        refused = await client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in refused.headers


def raw_request(base_url: str, request: bytes) -> bytes:
    """Send ``request`` as is on a new connection; the whole answer (the server closes)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /livez HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n",
    ],
)
def test_a_request_without_exactly_one_valid_host_is_400(hardened: str, request_head: bytes) -> None:
    answer = raw_request(hardened, request_head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    assert b"content-type: application/problem+json" in rest.lower()


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /livez HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"GET /livez HTTP/1.0\r\n\r\n",
    ],
)
def test_a_request_with_one_host_or_http_1_0_without_is_served(hardened: str, request_head: bytes) -> None:
    assert raw_request(hardened, request_head).split(b"\r\n")[0].split()[1] == b"200"
