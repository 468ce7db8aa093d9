"""The web product page: the product, its stock, related products with their stock.

The product is required; its stock and the related products are optional, and the related
products' stock is a section of its own inside them (``related.stock``)."""

from __future__ import annotations

from bff_web.deps import WebDeps
from bff_web.schemas import ProductPage, ProductWithStock, Stock
from bff_web.screens.shaping import product, product_with_stock
from shared import Deadline, FanOut, NotFound, stale_data

RELATED_COUNT = 8


async def product_page(deps: WebDeps, product_id: int, region: str, deadline: Deadline) -> ProductPage:
    async with FanOut(deadline) as fan:
        found = fan.required("product", deps.catalog.product(product_id, deadline=deadline))
        stock = fan.optional("stock", stock_of(deps, product_id, region, deadline), default=None)
        related = fan.optional("related", related_products(deps, product_id, region, deadline), default=[])
    record = found.value
    if record is None:
        raise NotFound(f"product {product_id} does not exist")
    return ProductPage(
        product=product(record),
        stock=stock.value,
        related=related.value,
        degraded=fan.degraded,
        stale=stale_data(),
    )


async def stock_of(deps: WebDeps, product_id: int, region: str, deadline: Deadline) -> Stock | None:
    available = await deps.inventory.available([product_id], region, deadline=deadline)
    if product_id not in available:
        return None
    return Stock(region=region, available=available[product_id], in_stock=available[product_id] > 0)


async def related_products(deps: WebDeps, product_id: int, region: str, deadline: Deadline) -> list[ProductWithStock]:
    related = await deps.catalog.related(product_id, RELATED_COUNT, deadline=deadline)
    ids = [p.id for p in related]
    async with FanOut(deadline) as fan:
        stock = fan.optional("stock", deps.inventory.available(ids, region, deadline=deadline), default=None)
    available = stock.value
    return [product_with_stock(p, available) for p in related]
