"""Operations of the orders service and the typed client screens use."""

from __future__ import annotations

from collections.abc import Iterable

from shared import (
    CachePolicy,
    CallExample,
    CallPolicy,
    Deadline,
    Operation,
    UnprocessableContent,
    UpstreamClient,
    UpstreamRejected,
)
from shared.upstream_client import IdempotencyKey
from upstreams.orders.models import NewOrder, NewOrderLine, Order, OrderPage

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
        """A page of the user's orders, newest first. ``cursor`` is the upstream's own; one
        it no longer accepts is the caller's 422 (``field: cursor``)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        try:
            return await self._upstream.call(
                LIST_ORDERS, path_params={"user_id": user_id}, params=params, deadline=deadline, cache_user=user_id
            )
        except UpstreamRejected as exc:
            if exc.code == "invalid_cursor":
                # Our cursor decoded but the upstream no longer accepts its position.
                raise UnprocessableContent("cursor has expired; start again without one", field="cursor") from exc
            raise

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

    async def place(
        self, user_id: int, lines: Iterable[tuple[int, int]], idempotency_key: str, *, deadline: Deadline
    ) -> Order:
        """``create`` for a client's request: ``lines`` are (product id, quantity); the
        orders service's refusals become the caller's 422, naming what to change."""
        order = NewOrder(
            user_id=user_id, items=[NewOrderLine(product_id=product, quantity=quantity) for product, quantity in lines]
        )
        try:
            return await self.create(order, idempotency_key, deadline=deadline)
        except UpstreamRejected as exc:
            if exc.code == "idempotency_key_reused":
                raise UnprocessableContent(
                    "this Idempotency-Key was already used with a different body; use a new key for a new order",
                    field="Idempotency-Key",
                ) from exc
            if exc.upstream_status == 422:
                raise UnprocessableContent(
                    f"the order was refused: {exc.code or 'invalid order'}", field="items"
                ) from exc
            raise
