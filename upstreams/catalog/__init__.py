"""catalog: products by id, in batches, related products and search. Large and cacheable."""

from shared import CallPolicy, UpstreamSpec
from upstreams._local import local_regions
from upstreams.catalog.client import GET_PRODUCT, GET_PRODUCTS, GET_RELATED, SEARCH, CatalogClient

SPEC = UpstreamSpec(
    name="catalog",
    description="Products: by id, batch, related, search",
    operations=(GET_PRODUCT, GET_PRODUCTS, GET_RELATED, SEARCH),
    local_regions=local_regions(9111),
    standin_module="upstreams.catalog.standin",
    policy=CallPolicy(connect_timeout=0.25, attempt_timeout=0.6),
)

__all__ = ["GET_PRODUCT", "GET_PRODUCTS", "GET_RELATED", "SEARCH", "SPEC", "CatalogClient"]
