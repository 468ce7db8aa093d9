"""A runnable stand-in of the orders service: order history, order detail, create order.

Seeded history comes from ``upstreams.orders.data``; orders created at run time go to an
``OrderBook`` shared by every region of one ``create_standins`` call, as a replicated
database would be. Creating needs an ``Idempotency-Key``; a retry with the same key and
body replays the first answer (``Idempotent-Replayed: true``) and creates nothing.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from upstreams._standin import (
    IdempotencyStore,
    StandinError,
    create_standin_app,
    idempotency_key,
    json_body,
    json_response,
    path_int,
    query_int,
)
from upstreams.catalog.data import CURRENCY, PRODUCT_COUNT, product, product_exists
from upstreams.orders import data

__all__ = ["OrderBook", "create_standins"]

MAX_PAGE = 50


class NewOrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: int = Field(ge=1)
    quantity: int = Field(ge=1, le=99)


class NewOrder(BaseModel):
    """The body of ``POST /orders``. A replay must be ``==`` the first body: same fields
    and values, whatever the JSON's spacing or key order. Frozen, as it is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Order ids carry the user id in at most 9 digits.
    user_id: int = Field(ge=1, le=999_999_999)
    items: list[NewOrderLine] = Field(min_length=1, max_length=50)


class OrderBook:
    """Seeded orders plus the ones created at run time, per user, newest first.

    Thread-safe, so regions served from different threads can share one book.
    ``clock`` stamps created orders (inject one for fixed timestamps).
    """

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._created: dict[int, list[dict[str, Any]]] = {}

    def order_count(self, user_id: int) -> int:
        """How many orders the user has, seeded and created."""
        return data.seeded_order_count(user_id) + len(self._created.get(user_id, ()))

    def order(self, user_id: int, sequence: int) -> dict[str, Any] | None:
        """The user's ``sequence``-th order, or ``None``."""
        seeded_count = data.seeded_order_count(user_id)
        if sequence <= seeded_count:
            return data.seeded_order(user_id, sequence)
        created = self._created.get(user_id, [])
        index = sequence - seeded_count - 1
        return created[index] if index < len(created) else None

    def create(self, new_order: NewOrder) -> dict[str, Any]:
        """Place ``new_order`` (products must exist) and return its detail."""
        items = [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_cents": product(line.product_id)["price_cents"],
            }
            for line in new_order.items
        ]
        user_id = new_order.user_id
        with self._lock:
            created = self._created.setdefault(user_id, [])
            sequence = data.seeded_order_count(user_id) + len(created) + 1
            order = {
                "id": data.order_id(user_id, sequence),
                "user_id": user_id,
                "status": "placed",
                "placed_at": data.format_timestamp(self._clock()),
                "currency": CURRENCY,
                "total_cents": sum(item["quantity"] * item["unit_price_cents"] for item in items),
                "items": items,
            }
            created.append(order)
        return order


def _encode_cursor(user_id: int, sequence: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{user_id}:{sequence}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, user_id: int, order_count: int) -> int:
    """The sequence the next page starts below; 400 ``invalid_cursor`` if not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        version, owner, sequence = base64.urlsafe_b64decode(padded).decode().split(":")
        if version == "v1" and int(owner) == user_id and 1 <= int(sequence) <= order_count:
            return int(sequence)
    except (ValueError, binascii.Error):
        pass
    raise StandinError(400, "invalid_cursor", "cursor must be a next_cursor this service returned for the same user")


def _known_lines(new_order: NewOrder) -> None:
    for index, line in enumerate(new_order.items):
        if not product_exists(line.product_id):
            raise StandinError(
                422,
                "unknown_product",
                f"items.{index}.product_id: no product {line.product_id}; products are 1..{PRODUCT_COUNT}",
            )


def _routes(book: OrderBook, created_by_key: IdempotencyStore[NewOrder, dict[str, Any]]) -> list[Route]:
    async def list_orders(request: Request) -> Response:
        user_id = path_int(request, "user_id")
        limit = query_int(request, "limit", default=10, minimum=1, maximum=MAX_PAGE)
        cursor = request.query_params.get("cursor")
        # Sequences grow with time, so newest first is highest sequence first.
        order_count = book.order_count(user_id)
        below = _decode_cursor(cursor, user_id, order_count) if cursor else order_count + 1
        sequences = range(below - 1, max(below - 1 - limit, 0), -1)
        items = [data.order_summary(order) for seq in sequences if (order := book.order(user_id, seq))]
        last = sequences[-1] if sequences else 1
        next_cursor = _encode_cursor(user_id, last) if last > 1 else None
        return json_response({"items": items, "next_cursor": next_cursor})

    async def get_order(request: Request) -> Response:
        raw_id: str = request.path_params["order_id"]
        ids = data.parse_order_id(raw_id)
        order = book.order(*ids) if ids else None
        if order is None:
            raise StandinError(404, "order_not_found", f"no order {raw_id!r}; ids look like 'o-000007-001'")
        return json_response(order)

    async def create_order(request: Request) -> Response:
        key = idempotency_key(request)
        new_order = await json_body(request, NewOrder, "invalid_order")
        _known_lines(new_order)
        order, replayed = created_by_key.run_once(key, new_order, lambda: book.create(new_order))
        headers = {"Location": f"/orders/{order['id']}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return json_response(order, 201, headers)

    return [
        Route("/users/{user_id}/orders", list_orders, methods=["GET"]),
        Route("/orders/{order_id}", get_order, methods=["GET"]),
        Route("/orders", create_order, methods=["POST"]),
    ]


def create_standins(regions: Sequence[str], *, book: OrderBook | None = None) -> dict[str, Starlette]:
    """One orders stand-in app per region, all sharing one ``OrderBook`` (new unless given)."""
    routes = _routes(book or OrderBook(), IdempotencyStore())
    return {region: create_standin_app("orders", region, routes) for region in regions}
