"""The catalog service's answers."""

from __future__ import annotations

from pydantic import BaseModel


class Product(BaseModel):
    id: int
    name: str
    description: str
    category: str
    brand: str
    price_cents: int
    currency: str
    image_url: str
    rating: float


class ProductList(BaseModel):
    items: list[Product]


class SearchResult(BaseModel):
    items: list[Product]
    total: int
