"""orders: a user's orders (paged), order detail, and order creation (Idempotency-Key)."""

from shared import CallPolicy, UpstreamSpec
from upstreams._local import local_regions
from upstreams.orders.client import CREATE_ORDER, GET_ORDER, LIST_ORDERS, OrdersClient

SPEC = UpstreamSpec(
    name="orders",
    description="Orders: list (paged), detail, create (Idempotency-Key)",
    operations=(LIST_ORDERS, GET_ORDER, CREATE_ORDER),
    local_regions=local_regions(9131),
    standin_module="upstreams.orders.standin",
    policy=CallPolicy(connect_timeout=0.25, attempt_timeout=0.8),
)

__all__ = ["CREATE_ORDER", "GET_ORDER", "LIST_ORDERS", "SPEC", "OrdersClient"]
