"""inventory: units in stock per product per stock region. Changes fast (short TTL)."""

from shared import CallPolicy, UpstreamSpec
from upstreams._local import local_regions
from upstreams.inventory.client import GET_STOCK, InventoryClient

SPEC = UpstreamSpec(
    name="inventory",
    description="Stock per product per stock region",
    operations=(GET_STOCK,),
    local_regions=local_regions(9121),
    standin_module="upstreams.inventory.standin",
    policy=CallPolicy(connect_timeout=0.25, attempt_timeout=0.5),
)

__all__ = ["GET_STOCK", "SPEC", "InventoryClient"]
