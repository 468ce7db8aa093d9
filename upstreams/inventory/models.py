"""The inventory service's answers."""

from __future__ import annotations

from pydantic import BaseModel


class StockLevel(BaseModel):
    product_id: int
    region: str
    available: int


class StockList(BaseModel):
    items: list[StockLevel]
