"""Bearer JWTs through bff_mobile, verified against a JWKS served over HTTP by an identity
provider of the test's own (so it can rotate keys)."""

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bff_mobile.settings import MobileSettings
from shared.cli.servers import ServerThread
from tests.support import Standins, mobile_config, serve_mobile
from upstreams.identity.keys import mint, public_jwk

ISSUER = "https://id.example.test"


class Provider:
    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {"k1": ec.generate_private_key(ec.SECP256R1())}
        self.fetches = 0

    def app(self) -> Starlette:
        async def jwks(request: Request) -> JSONResponse:
            self.fetches += 1
            return JSONResponse({"keys": [public_jwk(key, kid) for kid, key in self.keys.items()]})

        return Starlette(routes=[Route("/.well-known/jwks.json", jwks)])

    def token(self, kid: str = "k1", **overrides: Any) -> str:
        options: dict[str, Any] = {"issuer": ISSUER, "audience": "bff"} | overrides
        return mint(7, key=self.keys[kid], kid=kid, **options)


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    idp = Provider()
    with ServerThread({"idp": idp.app()}) as server:
        yield idp, server.url("idp")


@pytest.fixture
def secured(upstreams: Standins, provider: tuple[Provider, str]) -> Iterator[str]:
    _, idp_url = provider
    config = mobile_config(upstreams, auth={"mode": "jwt", "issuer": ISSUER, "jwks_min_refresh_seconds": 0})
    config["upstreams"]["identity"] = {"regions": {"eu-west-1": idp_url}}
    with serve_mobile(MobileSettings.model_validate(config)) as url:
        yield url


async def get_me(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get("/v1/me", headers=headers)


async def test_a_valid_token_names_the_caller(secured: str, provider: tuple[Provider, str]) -> None:
    answer = await get_me(secured, provider[0].token())
    assert answer.status_code == 200
    assert answer.json()["id"] == 7


async def test_no_token_is_401_on_a_screen_that_needs_a_caller(secured: str) -> None:
    answer = await get_me(secured, None)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def forged(provider: Provider) -> dict[str, str]:
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"sub": "7", "iss": ISSUER, "aud": "bff", "iat": now, "exp": now + 600}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = jwt.algorithms.ECAlgorithm.to_jwk(provider.keys["k1"].public_key())
    return {
        "expired": provider.token(now=now - 7200, lifetime=600),
        "forged": jwt.encode(claims, other, algorithm="ES256", headers={"kid": "k1"}),
        "wrong issuer": provider.token(issuer="https://evil.example"),
        "wrong audience": provider.token(audience="someone-else"),
        "alg none": jwt.encode(claims, "", algorithm="none", headers={"kid": "k1"}),
        # HS/RS confusion: an HMAC "signature" keyed with the provider's public key.
        "hs confusion": _hmac_token(claims, public_pem.encode()),
        "unknown key": jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "nobody"}),
        "not a jwt": "definitely-not-a-token",
        # Signed by the provider, but no user id: "²" passes isdigit() and fails int().
        "subject ²": jwt.encode(claims | {"sub": "²"}, provider.keys["k1"], algorithm="ES256", headers={"kid": "k1"}),
        "subject too large": jwt.encode(
            claims | {"sub": "1000000000"}, provider.keys["k1"], algorithm="ES256", headers={"kid": "k1"}
        ),
    }


def _hmac_token(claims: dict[str, Any], secret: bytes) -> str:
    import base64
    import hashlib
    import hmac

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "forged",
        "wrong issuer",
        "wrong audience",
        "alg none",
        "hs confusion",
        "unknown key",
        "not a jwt",
        "subject ²",
        "subject too large",
    ],
)
async def test_bad_tokens_are_401_problems(secured: str, provider: tuple[Provider, str], case: str) -> None:
    answer = await get_me(secured, forged(provider[0])[case])
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["field"] == "Authorization"


async def test_a_rotated_signing_key_is_picked_up(secured: str, provider: tuple[Provider, str]) -> None:
    idp, _ = provider
    assert (await get_me(secured, idp.token())).status_code == 200
    idp.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    before = idp.fetches
    assert (await get_me(secured, idp.token(kid="k2"))).status_code == 200
    assert idp.fetches == before + 1


async def test_public_screens_need_no_token(secured: str) -> None:
    async with httpx.AsyncClient(base_url=secured, timeout=10) as client:
        assert (await client.get("/v1/products/42")).status_code == 200


def test_the_dev_token_verifies_against_the_dev_stand_in(upstreams: Standins) -> None:
    from upstreams.identity.keys import DEV_KEY_ID, dev_private_key

    token = mint(7)
    jwk = jwt.PyJWK(public_jwk(dev_private_key(), DEV_KEY_ID))
    claims = jwt.decode(token, jwk.key, algorithms=["ES256"], audience="bff", issuer="http://127.0.0.1:9190")
    assert claims["sub"] == "7"


async def get_me_with(url: str, headers: list[tuple[str, str]]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get("/v1/me", headers=headers)


@pytest.mark.parametrize("order", ["garbage first", "valid first", "two users", "identical"])
async def test_two_authorization_headers_are_a_400_through_the_server(
    secured: str, provider: tuple[Provider, str], order: str
) -> None:
    idp, _ = provider
    valid, other = f"Bearer {idp.token()}", f"Bearer {mint(8, key=idp.keys['k1'], kid='k1', issuer=ISSUER)}"
    pairs = {
        "garbage first": ("Bearer garbage", valid),
        "valid first": (valid, "Bearer garbage"),
        "two users": (valid, other),
        "identical": (valid, valid),
    }
    answer = await get_me_with(secured, [("Authorization", value) for value in pairs[order]])
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:problem-type:bff:ambiguous-credentials"
    assert "more than once" in answer.json()["detail"]


async def test_two_tokens_joined_in_one_authorization_header_are_a_400(
    secured: str, provider: tuple[Provider, str]
) -> None:
    token = provider[0].token()
    answer = await get_me_with(secured, [("Authorization", f"Bearer {token}, Bearer {token}")])
    assert answer.status_code == 400
    assert answer.json()["type"] == "urn:problem-type:bff:ambiguous-credentials"


async def test_every_401_names_the_bearer_challenge(secured: str, provider: tuple[Provider, str]) -> None:
    missing = await get_me(secured, None)
    refused = await get_me(secured, forged(provider[0])["expired"])
    assert missing.headers["www-authenticate"] == 'Bearer realm="bff"'
    assert refused.headers["www-authenticate"] == (
        'Bearer realm="bff", error="invalid_token", error_description="the token has expired"'
    )
