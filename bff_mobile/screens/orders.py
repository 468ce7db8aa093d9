"""Order screens: the paged list, one order's detail, and placing an order."""

from __future__ import annotations

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import NewOrderRequest, OrderDetail, OrderItem, OrderList
from bff_mobile.screens.cards import order_card
from shared import Deadline, FanOut, NotFound, stale_data
from shared.cursor import encode_cursor
from shared.money import Money
from upstreams.catalog.models import Product
from upstreams.orders.models import Order


async def order_list(deps: MobileDeps, user_id: int, limit: int, position: str | None, deadline: Deadline) -> OrderList:
    page = await deps.orders.page(user_id, limit, position, deadline=deadline)
    return OrderList(
        items=[order_card(order) for order in page.items],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
        stale=stale_data(),
    )


async def order_detail(deps: MobileDeps, user_id: int, order_id: str, deadline: Deadline) -> OrderDetail:
    order = await deps.orders.order(order_id, deadline=deadline)
    # Another user's order is indistinguishable from a missing one.
    if order is None or order.user_id != user_id:
        raise NotFound(f"order {order_id} does not exist")
    return await _detail(deps, order, deadline)


async def place_order(
    deps: MobileDeps, user_id: int, request: NewOrderRequest, idempotency_key: str, deadline: Deadline
) -> OrderDetail:
    lines = [(item.product_id, item.quantity) for item in request.items]
    order = await deps.orders.place(user_id, lines, idempotency_key, deadline=deadline)
    return await _detail(deps, order, deadline)


async def _detail(deps: MobileDeps, order: Order, deadline: Deadline) -> OrderDetail:
    product_ids = [line.product_id for line in order.items]
    async with FanOut(deadline) as fan:
        products = fan.optional("item_names", deps.catalog.products(product_ids, deadline=deadline), default={})
    catalog: dict[int, Product] = products.value
    items = []
    for line in order.items:
        product = catalog.get(line.product_id)
        items.append(
            OrderItem(
                product_id=line.product_id,
                name=product.name if product else None,
                image_url=product.image_url if product else None,
                quantity=line.quantity,
                unit_price=Money.of(line.unit_price_cents, order.currency),
            )
        )
    return OrderDetail(
        id=order.id,
        status=order.status,
        placed_at=order.placed_at,
        total=Money.of(order.total_cents, order.currency),
        items=items,
        degraded=fan.degraded,
        stale=stale_data(),
    )
