"""The stand-in identity provider's signing key.

DEVELOPMENT ONLY: this private key is committed so `make run` and the tests can mint
tokens the local stand-in's JWKS verifies. No deployed BFF trusts it (production config
points ``upstreams.identity`` and ``auth.issuer`` at the company's real provider).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

DEV_KEY_ID = "dev-es256-1"
DEV_ISSUER = "http://127.0.0.1:9190"
DEV_AUDIENCE = "bff"


@functools.cache
def dev_private_key() -> EllipticCurvePrivateKey:
    key = load_pem_private_key((Path(__file__).with_name("dev_signing_key.pem")).read_bytes(), password=None)
    assert isinstance(key, EllipticCurvePrivateKey)
    return key


def public_jwk(key: EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "alg": "ES256", "use": "sig"}


def mint(
    user_id: int,
    *,
    key: EllipticCurvePrivateKey | None = None,
    kid: str = DEV_KEY_ID,
    issuer: str = DEV_ISSUER,
    audience: str = DEV_AUDIENCE,
    lifetime: int = 3600,
    now: int | None = None,
) -> str:
    """A signed ES256 token for ``user_id``."""
    import time

    issued = int(time.time()) if now is None else now
    claims = {"sub": str(user_id), "iss": issuer, "aud": audience, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(claims, key or dev_private_key(), algorithm="ES256", headers={"kid": kid})
