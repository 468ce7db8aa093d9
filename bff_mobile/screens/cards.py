"""Shaping upstream records into the compact cards several screens share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import OrderCard, ProductCard
from shared import Deadline, FanOut
from shared.money import Money
from upstreams.catalog.models import Product
from upstreams.orders.models import OrderSummary


def order_card(order: OrderSummary) -> OrderCard:
    return OrderCard(
        id=order.id,
        status=order.status,
        placed_at=order.placed_at,
        total=Money.of(order.total_cents, order.currency),
        item_count=order.item_count,
    )


def product_card(product: Product, available: Mapping[int, int] | None) -> ProductCard:
    in_stock = None if available is None or product.id not in available else available[product.id] > 0
    return ProductCard(
        id=product.id,
        name=product.name,
        price=Money.of(product.price_cents, product.currency),
        image_url=product.image_url,
        in_stock=in_stock,
    )


async def product_cards(
    deps: MobileDeps, product_ids: Sequence[int], region: str, deadline: Deadline
) -> list[ProductCard]:
    """Cards for ``product_ids`` (in that order): catalog and stock fetched in parallel.

    The catalog is needed; stock is not: without it the cards say ``in_stock: null`` and
    ``stock`` is degraded under the calling section (``recommendations.stock``).
    """
    if not product_ids:
        return []
    async with FanOut(deadline) as fan:
        products = fan.required("catalog", deps.catalog.products(product_ids, deadline=deadline))
        stock = fan.optional("stock", deps.inventory.available(product_ids, region, deadline=deadline), default=None)
    available, catalog = stock.value, products.value
    return [product_card(catalog[pid], available) for pid in product_ids if pid in catalog]
