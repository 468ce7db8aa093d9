"""PKCE (RFC 7636): the secret a client keeps and the S256 challenge it sends first."""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_verifier() -> str:
    """A fresh code verifier: 64 URL-safe characters (43-128 allowed)."""
    return secrets.token_urlsafe(48)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


__all__ = ["new_verifier", "pkce_challenge"]
