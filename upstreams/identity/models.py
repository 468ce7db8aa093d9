"""The identity provider's answers: a JSON Web Key Set."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Jwks(BaseModel):
    keys: list[dict[str, Any]]
