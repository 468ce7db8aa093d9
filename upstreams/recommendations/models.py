"""The recommendations service's answers."""

from __future__ import annotations

from pydantic import BaseModel


class Recommendation(BaseModel):
    product_id: int
    score: float


class RecommendationList(BaseModel):
    items: list[Recommendation]
