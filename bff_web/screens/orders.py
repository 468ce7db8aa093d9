"""The web order history, and placing an order.

``orders_page`` fans out: the page (required) → every order's detail, concurrently
(optional "order_lines") → one catalog batch for every product of the page (optional
"order_products"). ``place_order`` writes once (required; the caller's Idempotency-Key
makes a retry safe), then adds the lines' products (optional "order_products").
"""

from __future__ import annotations

import asyncio

from bff_web.deps import WebDeps
from bff_web.schemas import NewOrderRequest, Order, OrderLine, OrdersPage, PlacedOrder
from bff_web.screens.shaping import product
from shared import Deadline, FanOut, stale_data
from shared.cursor import encode_cursor
from shared.money import Money
from upstreams.catalog.models import Product as CatalogProduct
from upstreams.orders.models import Order as OrderRecord


async def orders_page(deps: WebDeps, user_id: int, limit: int, position: str | None, deadline: Deadline) -> OrdersPage:
    page = await deps.orders.page(user_id, limit, position, deadline=deadline)
    async with FanOut(deadline) as lines_fan:
        details = lines_fan.optional(
            "order_lines", order_details(deps, [o.id for o in page.items], deadline), default={}
        )
    records = details.value
    product_ids = [line.product_id for record in records.values() for line in record.items]
    async with FanOut(deadline) as products_fan:
        catalog = products_fan.optional(
            "order_products", deps.catalog.products(product_ids, deadline=deadline), default={}
        )
    products: dict[int, CatalogProduct] = catalog.value
    orders = [
        Order(
            id=summary.id,
            status=summary.status,
            placed_at=summary.placed_at,
            total=Money.of(summary.total_cents, summary.currency),
            item_count=summary.item_count,
            lines=_lines(records[summary.id], products) if summary.id in records else None,
        )
        for summary in page.items
    ]
    return OrdersPage(
        items=orders,
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        degraded=[*lines_fan.degraded, *products_fan.degraded],
        stale=stale_data(),
    )


async def place_order(
    deps: WebDeps, user_id: int, request: NewOrderRequest, idempotency_key: str, deadline: Deadline
) -> PlacedOrder:
    lines = [(item.product_id, item.quantity) for item in request.items]
    record = await deps.orders.place(user_id, lines, idempotency_key, deadline=deadline)
    async with FanOut(deadline) as fan:
        catalog = fan.optional(
            "order_products",
            deps.catalog.products([line.product_id for line in record.items], deadline=deadline),
            default={},
        )
    return PlacedOrder(
        id=record.id,
        status=record.status,
        placed_at=record.placed_at,
        total=Money.of(record.total_cents, record.currency),
        item_count=sum(line.quantity for line in record.items),
        lines=_lines(record, catalog.value),
        degraded=fan.degraded,
    )


async def order_details(deps: WebDeps, order_ids: list[str], deadline: Deadline) -> dict[str, OrderRecord]:
    found = await asyncio.gather(*(deps.orders.order(order_id, deadline=deadline) for order_id in order_ids))
    return {record.id: record for record in found if record is not None}


def _lines(record: OrderRecord, products: dict[int, CatalogProduct]) -> list[OrderLine]:
    return [
        OrderLine(
            product_id=line.product_id,
            product=product(products[line.product_id]) if line.product_id in products else None,
            quantity=line.quantity,
            unit_price=Money.of(line.unit_price_cents, record.currency),
        )
        for line in record.items
    ]
