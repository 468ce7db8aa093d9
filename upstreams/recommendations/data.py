"""Seeded recommendations: for each user, 50 distinct catalog products with scores.

``recommendations(7)`` seeds ``random.Random("recommendations:7")``; the list is sorted
by score, best first, so a smaller limit is always a prefix of a larger one.
"""

from __future__ import annotations

import random
from functools import lru_cache

from upstreams.catalog.data import PRODUCT_COUNT

__all__ = ["MAX_RECOMMENDATIONS", "recommendations"]

MAX_RECOMMENDATIONS = 50


# Bounded: recommendations answer for any user id, so an unbounded cache could grow.
@lru_cache(maxsize=4096)
def recommendations(user_id: int) -> tuple[dict[str, float | int], ...]:
    """The user's recommendations, best first: ``{"product_id": ..., "score": ...}``.

    The caller must not mutate the items.
    """
    rng = random.Random(f"recommendations:{user_id}")
    product_ids = rng.sample(range(1, PRODUCT_COUNT + 1), MAX_RECOMMENDATIONS)
    scores = sorted((round(rng.uniform(0.2, 0.99), 3) for _ in product_ids), reverse=True)
    return tuple(
        {"product_id": product_id, "score": score} for product_id, score in zip(product_ids, scores, strict=True)
    )
