"""bff_mobile's response and request bodies: compact, versioned with the /v1 paths.

Changes within /v1 are additive only; tests/bff_mobile/test_openapi.py holds the
committed snapshot that guards this.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.money import Money


class ProductCard(BaseModel):
    id: int
    name: str
    price: Money
    image_url: str
    #: ``None`` when stock could not be fetched (then "<section>.stock" is degraded, e.g.
    #: "recommendations.stock") or the inventory does not track the product.
    in_stock: bool | None


class OrderCard(BaseModel):
    id: str
    status: str
    placed_at: datetime
    total: Money
    item_count: int


class Home(BaseModel):
    greeting: str
    orders: list[OrderCard]
    recommended: list[ProductCard]
    #: Optional sections that could not be fetched and are left out or empty.
    degraded: list[str]
    #: Upstream data served stale from the cache (the upstream was slow or down), by operation.
    stale: list[str] = []


class ProductDetail(BaseModel):
    id: int
    name: str
    description: str
    brand: str
    category: str
    price: Money
    image_url: str
    rating: float


class Stock(BaseModel):
    region: str
    available: int
    in_stock: bool


class ProductScreen(BaseModel):
    product: ProductDetail
    stock: Stock | None
    related: list[ProductCard]
    degraded: list[str]
    #: Upstream data served stale from the cache (the upstream was slow or down), by operation.
    stale: list[str] = []


class OrderList(BaseModel):
    items: list[OrderCard]
    #: Pass back as ``cursor`` for the next page; ``None`` on the last page.
    next_cursor: str | None
    #: Upstream data served stale from the cache (the upstream was slow or down), by operation.
    stale: list[str] = []


class OrderItem(BaseModel):
    product_id: int
    #: ``None`` when the catalog could not be reached (then "item_names" is degraded).
    name: str | None
    image_url: str | None
    quantity: int
    unit_price: Money


class OrderDetail(BaseModel):
    id: str
    status: str
    placed_at: datetime
    total: Money
    items: list[OrderItem]
    degraded: list[str]
    #: Upstream data served stale from the cache (the upstream was slow or down), by operation.
    stale: list[str] = []


class MaskedAddress(BaseModel):
    street: str
    postal_code: str
    city: str
    country: str


class Me(BaseModel):
    id: int
    name: str
    #: Masked for display, e.g. "a***@example.com".
    email: str
    #: Masked for display, e.g. "*** 89".
    phone: str
    address: MaskedAddress
    home_region: str
    member_since: date
    #: Upstream data served stale from the cache (the upstream was slow or down), by operation.
    stale: list[str] = []


class NewOrderItem(BaseModel):
    product_id: int = Field(gt=0, description="Catalog product id")
    quantity: int = Field(ge=1, le=99)


class NewOrderRequest(BaseModel):
    items: list[NewOrderItem] = Field(min_length=1, max_length=50)
