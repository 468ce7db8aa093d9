"""bff_web's REST bodies: richer than mobile's (full product, order lines with products).
Changes within /v1 are additive only; docs/api/bff_web.openapi.json is the snapshot."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.money import Money


class Product(BaseModel):
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


class ProductWithStock(Product):
    #: ``None`` when stock could not be fetched (then "related.stock" is degraded) or the
    #: inventory does not track the product.
    in_stock: bool | None


class ProductPage(BaseModel):
    product: Product
    stock: Stock | None
    related: list[ProductWithStock]
    degraded: list[str]
    stale: list[str] = []


class OrderLine(BaseModel):
    product_id: int
    #: ``None`` when the catalog could not be reached (then "order_products" is degraded).
    product: Product | None
    quantity: int
    unit_price: Money


class Order(BaseModel):
    id: str
    status: str
    placed_at: datetime
    total: Money
    item_count: int
    #: ``None`` when the order's detail could not be fetched (then "order_lines" is degraded).
    lines: list[OrderLine] | None


class NewOrderItem(BaseModel):
    product_id: int = Field(gt=0, description="Catalog product id")
    quantity: int = Field(ge=1, le=99)


class NewOrderRequest(BaseModel):
    items: list[NewOrderItem] = Field(min_length=1, max_length=50)


class PlacedOrder(Order):
    #: Sections left out of the answer (the order is placed all the same).
    degraded: list[str]


class OrdersPage(BaseModel):
    items: list[Order]
    next_cursor: str | None
    degraded: list[str]
    stale: list[str] = []


class Address(BaseModel):
    street: str
    postal_code: str
    city: str
    country: str


class Profile(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    address: Address
    home_region: str
    member_since: date
    stale: list[str] = []
