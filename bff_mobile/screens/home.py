"""The home screen: greeting, recent orders, recommended products.

Fan-out graph (5 upstream calls, 2 levels)::

    accounts.get_user ────────────────┐
    orders.list_orders ───────────────┤
    recommendations.get_recommendations ─► catalog.get_products ┐
                                      └─► inventory.get_stock ──┘

Profile and orders are required; recommendations (with their catalog and stock
lookups) are optional and named in ``degraded`` when they fail; stock failing alone
is named ``recommendations.stock``.
"""

from __future__ import annotations

from bff_mobile.deps import MobileDeps
from bff_mobile.schemas import Home, ProductCard
from bff_mobile.screens.cards import order_card, product_cards
from shared import Deadline, FanOut, NotFound, stale_data


async def home_screen(deps: MobileDeps, user_id: int, deadline: Deadline) -> Home:
    settings = deps.settings
    async with FanOut(deadline) as fan:
        user = fan.required("profile", deps.accounts.user(user_id, deadline=deadline))
        orders = fan.required("orders", deps.orders.page(user_id, settings.home_orders, None, deadline=deadline))
        recommended = fan.optional(
            "recommendations", _recommended(deps, user_id, settings.default_stock_region, deadline), default=[]
        )
    profile = user.value
    if profile is None:
        raise NotFound(f"user {user_id} does not exist")
    first_name = profile.name.split(" ", 1)[0]
    return Home(
        greeting=f"Hi {first_name}",
        orders=[order_card(order) for order in orders.value.items],
        recommended=recommended.value,
        degraded=fan.degraded,
        stale=stale_data(),
    )


async def _recommended(deps: MobileDeps, user_id: int, region: str, deadline: Deadline) -> list[ProductCard]:
    picks = await deps.recommendations.for_user(user_id, deps.settings.home_recommendations, deadline=deadline)
    return await product_cards(deps, [pick.product_id for pick in picks], region, deadline)
