"""Operations of the inventory service and the typed client screens use."""

from __future__ import annotations

from collections.abc import Sequence

from shared import CachePolicy, CallExample, CallPolicy, Deadline, Operation, UpstreamClient
from upstreams.inventory.models import StockList

MAX_BATCH = 100

GET_STOCK = Operation(
    upstream="inventory",
    name="get_stock",
    method="GET",
    path="/stock",
    response=StockList,
    idempotent=True,
    example=CallExample(params={"ids": "1,2,3", "region": "eu"}),
    # Stock moves fast: a short TTL, and stale for a little while if inventory fails.
    policy=CallPolicy(cache=CachePolicy(ttl=5, stale_ttl=60)),
    tags=lambda path, query: [f"stock:{i}" for i in str(query.get("ids", "")).split(",") if i],
)


class InventoryClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def available(self, product_ids: Sequence[int], region: str, *, deadline: Deadline) -> dict[int, int]:
        """Units available per product in a stock region; unknown products are absent."""
        if not product_ids:
            return {}
        ids = list(dict.fromkeys(product_ids))[:MAX_BATCH]
        answer = await self._upstream.call(
            GET_STOCK, params={"ids": ",".join(map(str, ids)), "region": region}, deadline=deadline
        )
        return {level.product_id: level.available for level in answer.items}
