"""The identity provider's answers: a JSON Web Key Set, and tokens for a code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


class TokenAnswer(BaseModel):
    """RFC 6749 §5.1: an access token for an authorization code. Secret: never logged
    nor cached (the operation has no cache policy); a browser session keeps it sealed."""

    access_token: str = Field(repr=False)
    token_type: str
    expires_in: int = Field(gt=0)
