"""Upstream records shaped into web bodies, shared by every web screen."""

from __future__ import annotations

from collections.abc import Mapping

from bff_web.schemas import Product, ProductWithStock
from shared.money import Money
from upstreams.catalog.models import Product as CatalogProduct


def product(record: CatalogProduct) -> Product:
    return Product(
        id=record.id,
        name=record.name,
        description=record.description,
        brand=record.brand,
        category=record.category,
        price=Money.of(record.price_cents, record.currency),
        image_url=record.image_url,
        rating=record.rating,
    )


def product_with_stock(record: CatalogProduct, available: Mapping[int, int] | None) -> ProductWithStock:
    in_stock = None if available is None or record.id not in available else available[record.id] > 0
    return ProductWithStock(**product(record).model_dump(), in_stock=in_stock)
