import re

from starlette.requests import Request
from starlette.responses import Response

from bff_mobile.deps import deps_of
from bff_mobile.schemas import NewOrderRequest, OrderDetail, OrderList
from bff_mobile.screens.orders import order_detail, order_list, place_order
from shared import BadRequest, Endpoint, JSONResponse, Param, json_with_etag
from shared.cursor import decode_cursor
from shared.identity import caller_id
from shared.inputs import idempotency_key, json_body, query_int
from shared.params import IDEMPOTENCY_KEY, PAGE_CURSOR, PAGE_LIMIT

_ORDER_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_ORDER_ID = re.compile(_ORDER_ID_PATTERN)


async def list_orders(request: Request) -> Response:
    deps = deps_of(request)
    user_id = caller_id(request)
    limit = query_int(request, "limit", default=10, minimum=1, maximum=50)
    cursor = request.query_params.get("cursor")
    position = decode_cursor(cursor) if cursor else None
    screen = await order_list(deps, user_id, limit, position, deps.deadline())
    return json_with_etag(request, screen)


async def get_order(request: Request) -> Response:
    deps = deps_of(request)
    user_id = caller_id(request)
    order_id = request.path_params["order_id"]
    if not _ORDER_ID.fullmatch(order_id):
        raise BadRequest(f"path parameter 'order_id' is not an order id: {order_id[:40]!r}", field="order_id")
    screen = await order_detail(deps, user_id, order_id, deps.deadline())
    return json_with_etag(request, screen)


async def create_order(request: Request) -> Response:
    deps = deps_of(request)
    user_id = caller_id(request)
    key = idempotency_key(request)
    body = await json_body(request, NewOrderRequest)
    order = await place_order(deps, user_id, body, key, deps.deadline())
    return JSONResponse(order, status_code=201)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/orders",
        list_orders,
        summary="The caller's orders, newest first, paged by an opaque cursor",
        response=OrderList,
        operation_id="listOrders",
        params=[PAGE_LIMIT, PAGE_CURSOR],
        errors=[422, 502, 503, 504],
        tags=["orders"],
    ),
    Endpoint(
        "GET",
        "/v1/orders/{order_id}",
        get_order,
        summary="One of the caller's orders, with item names",
        response=OrderDetail,
        operation_id="getOrder",
        params=[Param("order_id", "path", {"type": "string", "pattern": _ORDER_ID_PATTERN}, "Order id")],
        errors=[404, 502, 503, 504],
        tags=["orders"],
    ),
    Endpoint(
        "POST",
        "/v1/orders",
        create_order,
        summary="Place an order; replaying the same Idempotency-Key returns the same order",
        response=OrderDetail,
        operation_id="createOrder",
        status=201,
        params=[IDEMPOTENCY_KEY],
        body=NewOrderRequest,
        errors=[422, 502, 503, 504],
        tags=["orders"],
    ),
]
