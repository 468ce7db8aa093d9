"""What screen services depend on, built once by the lifespan and shared by requests."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from bff_mobile.settings import MobileSettings
from shared import Deadline, UpstreamSet
from upstreams.accounts import AccountsClient
from upstreams.catalog import CatalogClient
from upstreams.inventory import InventoryClient
from upstreams.orders import OrdersClient
from upstreams.recommendations import RecommendationsClient


@dataclass(frozen=True, slots=True)
class MobileDeps:
    settings: MobileSettings
    accounts: AccountsClient
    catalog: CatalogClient
    inventory: InventoryClient
    orders: OrdersClient
    recommendations: RecommendationsClient

    @classmethod
    def from_upstreams(cls, settings: MobileSettings, upstreams: UpstreamSet) -> MobileDeps:
        return cls(
            settings=settings,
            accounts=AccountsClient(upstreams["accounts"]),
            catalog=CatalogClient(upstreams["catalog"]),
            inventory=InventoryClient(upstreams["inventory"]),
            orders=OrdersClient(upstreams["orders"]),
            recommendations=RecommendationsClient(upstreams["recommendations"]),
        )

    def deadline(self) -> Deadline:
        """A fresh deadline for one inbound request."""
        return Deadline.after(self.settings.deadline_seconds)


def deps_of(request: Request) -> MobileDeps:
    deps: MobileDeps = request.state.deps
    return deps
