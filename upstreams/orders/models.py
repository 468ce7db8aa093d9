"""The orders service's answers and the body of a new order."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

OrderStatus = Literal["placed", "paid", "shipped", "delivered", "cancelled"]


class OrderSummary(BaseModel):
    id: str
    user_id: int
    status: OrderStatus
    placed_at: datetime
    total_cents: int
    currency: str
    item_count: int


class OrderPage(BaseModel):
    items: list[OrderSummary]
    next_cursor: str | None


class OrderLine(BaseModel):
    product_id: int
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    id: str
    user_id: int
    status: OrderStatus
    placed_at: datetime
    currency: str
    total_cents: int
    items: list[OrderLine]


class NewOrderLine(BaseModel):
    product_id: int = Field(gt=0)
    quantity: int = Field(ge=1, le=99)


class NewOrder(BaseModel):
    user_id: int
    items: list[NewOrderLine] = Field(min_length=1, max_length=50)
