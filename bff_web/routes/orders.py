from starlette.requests import Request
from starlette.responses import Response

from bff_web.deps import deps_of
from bff_web.schemas import NewOrderRequest, OrdersPage, PlacedOrder
from bff_web.screens.orders import orders_page, place_order
from shared import Endpoint, JSONResponse, json_with_etag
from shared.cursor import decode_cursor
from shared.identity import caller_id
from shared.inputs import idempotency_key, json_body, query_int
from shared.params import IDEMPOTENCY_KEY, PAGE_CURSOR, PAGE_LIMIT


async def list_orders(request: Request) -> Response:
    deps = deps_of(request)
    user_id = caller_id(request)
    limit = query_int(request, "limit", default=10, minimum=1, maximum=50)
    cursor = request.query_params.get("cursor")
    position = decode_cursor(cursor) if cursor else None
    return json_with_etag(request, await orders_page(deps, user_id, limit, position, deps.deadline()))


async def create_order(request: Request) -> Response:
    deps = deps_of(request)
    user_id = caller_id(request)
    key = idempotency_key(request)
    body = await json_body(request, NewOrderRequest)
    return JSONResponse(await place_order(deps, user_id, body, key, deps.deadline()), status_code=201)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/orders",
        list_orders,
        summary="The caller's orders with their lines and products, newest first, paged by cursor",
        response=OrdersPage,
        operation_id="listOrders",
        params=[PAGE_LIMIT, PAGE_CURSOR],
        errors=[422, 502, 503, 504],
        tags=["orders"],
    ),
    Endpoint(
        "POST",
        "/v1/orders",
        create_order,
        summary="Place an order; replaying the same Idempotency-Key returns the same order",
        response=PlacedOrder,
        operation_id="createOrder",
        status=201,
        params=[IDEMPOTENCY_KEY],
        body=NewOrderRequest,
        errors=[422, 502, 503, 504],
        tags=["orders"],
    ),
]
