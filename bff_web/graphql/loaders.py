"""Per-request DataLoaders: every product, stock level and order detail a request needs
is fetched once, in as few upstream calls as the upstreams allow (a dashboard of 10
orders × 5 lines makes one catalog batch call, not 50)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from bff_web.deps import WebDeps
from shared import Deadline
from upstreams.catalog.client import MAX_BATCH
from upstreams.catalog.models import Product
from upstreams.orders.models import Order

StockKey = tuple[int, str]


class Loaders:
    def __init__(self, deps: WebDeps, deadline: Deadline) -> None:
        self._deps = deps
        self._deadline = deadline
        self.product: DataLoader[int, Product | None] = DataLoader(load_fn=self._products)
        self.stock: DataLoader[StockKey, int | None] = DataLoader(load_fn=self._stock)
        self.order: DataLoader[str, Order | None] = DataLoader(load_fn=self._orders)

    async def _products(self, ids: Sequence[int]) -> list[Product | None]:
        found: dict[int, Product] = {}
        for start in range(0, len(ids), MAX_BATCH):
            found |= await self._deps.catalog.products(ids[start : start + MAX_BATCH], deadline=self._deadline)
        return [found.get(product_id) for product_id in ids]

    async def _stock(self, keys: Sequence[StockKey]) -> list[int | None]:
        by_region: dict[str, list[int]] = defaultdict(list)
        for product_id, region in keys:
            by_region[region].append(product_id)
        available: dict[StockKey, int] = {}
        for region, ids in by_region.items():
            for start in range(0, len(ids), MAX_BATCH):
                chunk = ids[start : start + MAX_BATCH]
                levels = await self._deps.inventory.available(chunk, region, deadline=self._deadline)
                available |= {(product_id, region): units for product_id, units in levels.items()}
        return [available.get(key) for key in keys]

    async def _orders(self, order_ids: Sequence[str]) -> list[Order | None]:
        # The orders service has no batch read: one call per distinct order, concurrently.
        return list(
            await asyncio.gather(
                *(self._deps.orders.order(order_id, deadline=self._deadline) for order_id in order_ids)
            )
        )
