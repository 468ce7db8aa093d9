"""Operations of the orders service and the typed client screens use."""

from __future__ import annotations

from shared import (
    CachePolicy,
    CallExample,
    CallPolicy,
    Deadline,
    Operation,
    UpstreamClient,
    UpstreamRejected,
)
from shared.upstream_client import IdempotencyKey
from upstreams.orders.models import NewOrder, Order, OrderPage

LIST_ORDERS = Operation(
    upstream="orders",
    name="list_orders",
    method="GET",
    path="/users/{user_id}/orders",
    response=OrderPage,
    idempotent=True,
    example=CallExample(path_params={"user_id": 7}, params={"limit": 3}),
    policy=CallPolicy(cache=CachePolicy(ttl=30, stale_ttl=600, scope="user")),
    tags=lambda path, query: [f"orders-of:{path['user_id']}"],
)
GET_ORDER = Operation(
    upstream="orders",
    name="get_order",
    method="GET",
    path="/orders/{order_id}",
    response=Order,
    idempotent=True,
    example=CallExample(path_params={"order_id": "o-000007-001"}),
    policy=CallPolicy(cache=CachePolicy(ttl=60, stale_ttl=600)),
    tags=lambda path, query: [f"order:{path['order_id']}"],
)
#: Not idempotent by itself; the Idempotency-Key it always carries makes a repeat safe.
CREATE_ORDER = Operation(
    upstream="orders",
    name="create_order",
    method="POST",
    path="/orders",
    response=Order,
    idempotent=False,
    example=CallExample(
        json={"user_id": 7, "items": [{"product_id": 42, "quantity": 1}]},
        headers={"Idempotency-Key": "contract-example-1"},
    ),
)


class OrdersClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def page(self, user_id: int, limit: int, cursor: str | None, *, deadline: Deadline) -> OrderPage:
        """A page of the user's orders, newest first. ``cursor`` is the upstream's own."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._upstream.call(
            LIST_ORDERS, path_params={"user_id": user_id}, params=params, deadline=deadline, cache_user=user_id
        )

    async def order(self, order_id: str, *, deadline: Deadline) -> Order | None:
        try:
            return await self._upstream.call(GET_ORDER, path_params={"order_id": order_id}, deadline=deadline)
        except UpstreamRejected as exc:
            if exc.upstream_status == 404:
                return None
            raise

    async def create(self, order: NewOrder, idempotency_key: str, *, deadline: Deadline) -> Order:
        """Create an order; the same key and body return the same order, never a second one.

        The key is the ordering user's: another user sending the same key places an order
        of their own (the orders service sees a key scoped to the user and this operation).
        The user's cached order list is dropped, so their next screen shows the new order.
        """
        created = await self._upstream.call(
            CREATE_ORDER,
            json=order.model_dump(mode="json"),
            idempotency=IdempotencyKey(order.user_id, idempotency_key),
            deadline=deadline,
        )
        await self._upstream.invalidate(f"orders-of:{order.user_id}")
        return created
