"""The product screen: the product, its stock in the caller's region, related products.

The product is required; its stock and the related products are optional (the related
cards' stock failing alone is named ``related.stock``).
"""

from __future__ import annotations

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import ProductCard, ProductDetail, ProductScreen, Stock
from bff_mobile.screens.cards import product_cards
from shared import Deadline, FanOut, NotFound, stale_data
from shared.money import Money

RELATED_COUNT = 5


async def product_screen(deps: MobileDeps, product_id: int, region: str, deadline: Deadline) -> ProductScreen:
    async with FanOut(deadline) as fan:
        product = fan.required("product", deps.catalog.product(product_id, deadline=deadline))
        stock = fan.optional("stock", _stock(deps, product_id, region, deadline), default=None)
        related = fan.optional("related", _related(deps, product_id, region, deadline), default=[])
    found = product.value
    if found is None:
        raise NotFound(f"product {product_id} does not exist")
    return ProductScreen(
        product=ProductDetail(
            id=found.id,
            name=found.name,
            description=found.description,
            brand=found.brand,
            category=found.category,
            price=Money.of(found.price_cents, found.currency),
            image_url=found.image_url,
            rating=found.rating,
        ),
        stock=stock.value,
        related=related.value,
        degraded=fan.degraded,
        stale=stale_data(),
    )


async def _stock(deps: MobileDeps, product_id: int, region: str, deadline: Deadline) -> Stock | None:
    available = await deps.inventory.available([product_id], region, deadline=deadline)
    if product_id not in available:
        return None
    return Stock(region=region, available=available[product_id], in_stock=available[product_id] > 0)


async def _related(deps: MobileDeps, product_id: int, region: str, deadline: Deadline) -> list[ProductCard]:
    related = await deps.catalog.related(product_id, RELATED_COUNT, deadline=deadline)
    return await product_cards(deps, [p.id for p in related], region, deadline)
