"""Operations of the catalog service and the typed client screens use."""

from __future__ import annotations

from collections.abc import Sequence

from shared import (
    CachePolicy,
    CallExample,
    CallPolicy,
    Deadline,
    Operation,
    UpstreamClient,
    UpstreamRejected,
)
from upstreams.catalog.models import Product, ProductList, SearchResult

#: The stand-in (and the real service) refuse larger batches.
MAX_BATCH = 100
#: Products change rarely and are the same for everyone.
PRODUCT_CACHE = CallPolicy(cache=CachePolicy(ttl=300, stale_ttl=3600))

GET_PRODUCT = Operation(
    upstream="catalog",
    name="get_product",
    method="GET",
    path="/products/{product_id}",
    response=Product,
    idempotent=True,
    example=CallExample(path_params={"product_id": 42}),
    policy=PRODUCT_CACHE,
    tags=lambda path, query: [f"product:{path['product_id']}"],
)
GET_PRODUCTS = Operation(
    upstream="catalog",
    name="get_products",
    method="GET",
    path="/products",
    response=ProductList,
    idempotent=True,
    example=CallExample(params={"ids": "1,2,3"}),
    policy=PRODUCT_CACHE,
    tags=lambda path, query: [f"product:{i}" for i in str(query.get("ids", "")).split(",") if i],
)
GET_RELATED = Operation(
    upstream="catalog",
    name="get_related",
    method="GET",
    path="/products/{product_id}/related",
    response=ProductList,
    idempotent=True,
    example=CallExample(path_params={"product_id": 42}, params={"limit": 5}),
    policy=PRODUCT_CACHE,
    tags=lambda path, query: [f"product:{path['product_id']}"],
)
SEARCH = Operation(
    upstream="catalog",
    name="search",
    method="GET",
    path="/search",
    response=SearchResult,
    idempotent=True,
    example=CallExample(params={"q": "shoe", "limit": 5, "offset": 0}),
    policy=CallPolicy(cache=CachePolicy(ttl=60, stale_ttl=600)),
)


class CatalogClient:
    def __init__(self, upstream: UpstreamClient) -> None:
        self._upstream = upstream

    async def product(self, product_id: int, *, deadline: Deadline) -> Product | None:
        """One product, or ``None`` if the catalog does not know the id."""
        try:
            return await self._upstream.call(GET_PRODUCT, path_params={"product_id": product_id}, deadline=deadline)
        except UpstreamRejected as exc:
            if exc.upstream_status == 404:
                return None
            raise

    async def products(self, product_ids: Sequence[int], *, deadline: Deadline) -> dict[int, Product]:
        """Products by id in one call; unknown ids are absent from the result."""
        if not product_ids:
            return {}
        ids = list(dict.fromkeys(product_ids))[:MAX_BATCH]
        answer = await self._upstream.call(GET_PRODUCTS, params={"ids": ",".join(map(str, ids))}, deadline=deadline)
        return {product.id: product for product in answer.items}

    async def related(self, product_id: int, limit: int, *, deadline: Deadline) -> list[Product]:
        answer = await self._upstream.call(
            GET_RELATED, path_params={"product_id": product_id}, params={"limit": limit}, deadline=deadline
        )
        return answer.items

    async def search(self, query: str, limit: int, offset: int, *, deadline: Deadline) -> SearchResult:
        return await self._upstream.call(
            SEARCH, params={"q": query, "limit": limit, "offset": offset}, deadline=deadline
        )
