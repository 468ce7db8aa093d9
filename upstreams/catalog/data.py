"""The catalog's seeded products: 5,000 of them, each computed from its id alone.

Nothing is generated up front: ``product(42)`` seeds ``random.Random("catalog:42")`` and
builds that one product (then memoizes it), so a stand-in starts instantly and every
process, region and run sees the same catalog. Other stand-ins (orders) read prices here.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any, NamedTuple

__all__ = [
    "CURRENCY",
    "PRODUCT_COUNT",
    "product",
    "product_exists",
    "related_product_ids",
    "search_product_ids",
]

PRODUCT_COUNT = 5000
CURRENCY = "EUR"
#: ``related_product_ids`` computes this many; callers take a prefix.
RELATED_MAX = 50


class _Category(NamedTuple):
    kinds: tuple[str, ...]
    items: tuple[str, ...]
    price_range_cents: tuple[int, int]
    selling_point: str


_CATEGORIES: dict[str, _Category] = {
    "shoes": _Category(
        ("Trail Running", "Road Running", "Hiking", "Everyday", "Court", "Waterproof"),
        ("Shoe", "Sneaker", "Boot"),
        (4_000, 22_000),
        "a grippy outsole and a cushioned midsole",
    ),
    "jackets": _Category(
        ("Rain", "Down", "Softshell", "Fleece", "Insulated", "Packable"),
        ("Jacket", "Parka", "Vest"),
        (5_000, 40_000),
        "taped seams and an adjustable hood",
    ),
    "backpacks": _Category(
        ("Daypack", "Commuter", "Trekking", "Roll-Top", "Laptop", "Hydration"),
        ("Backpack", "Pack", "Bag"),
        (3_000, 25_000),
        "a padded back panel and many pockets",
    ),
    "camping": _Category(
        ("Ultralight", "Family", "Four-Season", "Backpacking", "Pop-Up", "Dome"),
        ("Tent", "Sleeping Bag", "Camping Stove", "Sleeping Mat"),
        (2_500, 60_000),
        "a packed size that fits any trunk",
    ),
    "watches": _Category(
        ("GPS", "Solar", "Dive", "Classic", "Smart", "Field"),
        ("Watch", "Sports Watch", "Chronograph"),
        (8_000, 90_000),
        "a sapphire glass and a two-week battery",
    ),
    "audio": _Category(
        ("Wireless", "Noise-Cancelling", "Open-Ear", "Studio", "Compact", "Waterproof"),
        ("Headphones", "Earbuds", "Speaker"),
        (2_000, 45_000),
        "deep bass and a clear microphone",
    ),
    "kitchen": _Category(
        ("Cast Iron", "Non-Stick", "Stainless", "Enamel", "Ceramic", "Carbon Steel"),
        ("Pan", "Pot", "Kettle", "Knife"),
        (1_500, 20_000),
        "even heating and a lifetime warranty",
    ),
    "cycling": _Category(
        ("Gravel", "Road", "City", "Mountain", "Aero", "Folding"),
        ("Helmet", "Bike Light", "Saddle", "Pump"),
        (1_500, 30_000),
        "tool-free fitting and road-legal reflectors",
    ),
}
CATEGORIES: tuple[str, ...] = tuple(_CATEGORIES)
_BRANDS = (
    "Northpeak",
    "Alpina",
    "Veloce",
    "Kestrel",
    "Moss & Stone",
    "Lumen",
    "Fjordline",
    "Cobalt",
    "Sundial",
    "Urbanite",
)


def product_exists(product_id: int) -> bool:
    """Whether the catalog has product ``product_id`` (ids 1..5000)."""
    return 1 <= product_id <= PRODUCT_COUNT


@cache
def product(product_id: int) -> dict[str, Any]:
    """Product ``product_id`` as the catalog answers it; the caller must not mutate it.

    Raises ``KeyError`` for an id outside the catalog (check ``product_exists``).
    """
    if not product_exists(product_id):
        raise KeyError(f"no product {product_id}; products are 1..{PRODUCT_COUNT}")
    rng = random.Random(f"catalog:{product_id}")
    category = rng.choice(CATEGORIES)
    spec = _CATEGORIES[category]
    brand = rng.choice(_BRANDS)
    name = f"{rng.choice(spec.kinds)} {rng.choice(spec.items)}"
    low, high = spec.price_range_cents
    # Shop prices end in .99.
    price_cents = rng.randint(low // 100, high // 100) * 100 - 1
    return {
        "id": product_id,
        "name": name,
        "description": f"The {name} by {brand}, with {spec.selling_point}.",
        "category": category,
        "brand": brand,
        "price_cents": price_cents,
        "currency": CURRENCY,
        "image_url": f"https://img.example.com/p/{product_id}.jpg",
        "rating": round(rng.uniform(2.5, 5.0), 1),
    }


@cache
def _ids_by_category() -> dict[str, tuple[int, ...]]:
    # Builds all products once (tens of ms), on the first related or search call.
    by_category: dict[str, list[int]] = {category: [] for category in CATEGORIES}
    for product_id in range(1, PRODUCT_COUNT + 1):
        by_category[product(product_id)["category"]].append(product_id)
    return {category: tuple(ids) for category, ids in by_category.items()}


@cache
def related_product_ids(product_id: int) -> tuple[int, ...]:
    """Up to 50 products of the same category, never ``product_id``, in a fixed order."""
    category = product(product_id)["category"]
    candidates = [other for other in _ids_by_category()[category] if other != product_id]
    rng = random.Random(f"catalog:related:{product_id}")
    return tuple(rng.sample(candidates, min(RELATED_MAX, len(candidates))))


@cache
def _search_texts() -> tuple[tuple[int, str], ...]:
    return tuple(
        (item["id"], f"{item['name']}\n{item['category']}\n{item['brand']}".lower())
        for item in map(product, range(1, PRODUCT_COUNT + 1))
    )


def search_product_ids(query: str) -> list[int]:
    """Ids of products whose name, category or brand contains ``query`` (any case)."""
    needle = query.lower()
    return [product_id for product_id, text in _search_texts() if needle in text]
