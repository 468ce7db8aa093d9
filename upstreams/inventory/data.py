"""Seeded stock levels: one number per catalog product per stock region.

``available(42, "eu")`` seeds ``random.Random("inventory:42:eu")``, so levels are the
same in every stand-in region and run. About 15 % of products are out of stock.
"""

from __future__ import annotations

import random

__all__ = ["OUT_OF_STOCK_SHARE", "STOCK_REGIONS", "available"]

#: Where stock is held (not where the service runs).
STOCK_REGIONS = ("eu", "us", "apac")
OUT_OF_STOCK_SHARE = 0.15
MAX_STOCK = 250


def available(product_id: int, stock_region: str) -> int:
    """Units of product ``product_id`` available in ``stock_region``."""
    rng = random.Random(f"inventory:{product_id}:{stock_region}")
    if rng.random() < OUT_OF_STOCK_SHARE:
        return 0
    return rng.randint(1, MAX_STOCK)
