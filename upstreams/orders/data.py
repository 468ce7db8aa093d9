"""The orders service's seeded history: 0-25 orders for each of the 1,000 users.

Each order is computed from its ids alone: ``seeded_order(7, 3)`` is the third order user 7
ever placed (id ``"o-000007-003"``), built from ``random.Random("orders:7:3")``. Sequence
numbers grow with time, so "newest first" is "highest sequence first". Items are catalog
products at their catalog prices. Orders created at run time live in the stand-in's
``OrderBook`` and continue each user's sequence.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from upstreams.accounts.data import USER_COUNT
from upstreams.catalog.data import CURRENCY, PRODUCT_COUNT, product

__all__ = [
    "MAX_SEEDED_ORDERS",
    "format_timestamp",
    "order_id",
    "order_summary",
    "parse_order_id",
    "seeded_order",
    "seeded_order_count",
]

MAX_SEEDED_ORDERS = 25
#: The seeded history ends here (a fixed date, so data never depends on today).
SEEDED_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
SEEDED_SPAN = timedelta(days=730)
_ORDER_ID = re.compile(r"o-(\d{6,9})-(\d{3,6})")


def order_id(user_id: int, sequence: int) -> str:
    """The id of the user's ``sequence``-th order, e.g. ``"o-000123-004"``."""
    return f"o-{user_id:06d}-{sequence:03d}"


def parse_order_id(raw: str) -> tuple[int, int] | None:
    """``(user_id, sequence)`` of an order id, or ``None`` if it is not one."""
    match = _ORDER_ID.fullmatch(raw)
    if match is None:
        return None
    return int(match[1]), int(match[2])


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, like ``"2026-10-01T09:30:00Z"``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def _seeded_timestamps(user_id: int) -> tuple[datetime, ...]:
    if not 1 <= user_id <= USER_COUNT:
        return ()
    rng = random.Random(f"orders:{user_id}")
    count = rng.randint(0, MAX_SEEDED_ORDERS)
    span_s = int(SEEDED_SPAN.total_seconds())
    offsets = sorted(rng.randrange(span_s) for _ in range(count))
    start = SEEDED_UNTIL - SEEDED_SPAN
    return tuple(start + timedelta(seconds=offset) for offset in offsets)


def seeded_order_count(user_id: int) -> int:
    """How many seeded orders the user has (0 for users accounts does not know)."""
    return len(_seeded_timestamps(user_id))


def _seeded_status(placed_at: datetime, rng: random.Random) -> str:
    # Orders progress with age; a few are cancelled whatever their age.
    if rng.random() < 0.07:
        return "cancelled"
    age = SEEDED_UNTIL - placed_at
    if age < timedelta(days=1):
        return "placed"
    if age < timedelta(days=2):
        return "paid"
    if age < timedelta(days=7):
        return "shipped"
    return "delivered"


@lru_cache(maxsize=8192)
def seeded_order(user_id: int, sequence: int) -> dict[str, Any] | None:
    """The seeded order detail, or ``None`` if there is no such seeded order.

    The caller must not mutate it.
    """
    timestamps = _seeded_timestamps(user_id)
    if not 1 <= sequence <= len(timestamps):
        return None
    placed_at = timestamps[sequence - 1]
    rng = random.Random(f"orders:{user_id}:{sequence}")
    product_ids = rng.sample(range(1, PRODUCT_COUNT + 1), rng.randint(1, 4))
    items = [
        {
            "product_id": product_id,
            "quantity": rng.choices((1, 2, 3), weights=(80, 15, 5))[0],
            "unit_price_cents": product(product_id)["price_cents"],
        }
        for product_id in product_ids
    ]
    return {
        "id": order_id(user_id, sequence),
        "user_id": user_id,
        "status": _seeded_status(placed_at, rng),
        "placed_at": format_timestamp(placed_at),
        "currency": CURRENCY,
        "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
        "items": items,
    }


def order_summary(order: dict[str, Any]) -> dict[str, Any]:
    """An order as a list shows it; ``item_count`` counts units, not lines."""
    return {
        "id": order["id"],
        "user_id": order["user_id"],
        "status": order["status"],
        "placed_at": order["placed_at"],
        "total_cents": order["total_cents"],
        "currency": order["currency"],
        "item_count": sum(item["quantity"] for item in order["items"]),
    }
