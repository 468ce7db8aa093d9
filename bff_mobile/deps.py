"""What screen services depend on, built once by the lifespan and shared by requests."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from bff_mobile.settings import MobileSettings
from shared import Deadline
from shared.runtime import Runtime
from upstreams.accounts import AccountsClient
from upstreams.catalog import CatalogClient
from upstreams.inventory import InventoryClient
from upstreams.orders import OrdersClient
from upstreams.recommendations import RecommendationsClient


@dataclass(frozen=True, slots=True)
class MobileDeps:
    runtime: Runtime[MobileSettings]
    accounts: AccountsClient
    catalog: CatalogClient
    inventory: InventoryClient
    orders: OrdersClient
    recommendations: RecommendationsClient

    @classmethod
    def from_runtime(cls, runtime: Runtime[MobileSettings]) -> MobileDeps:
        upstreams = runtime.upstreams
        return cls(
            runtime=runtime,
            accounts=AccountsClient(upstreams["accounts"]),
            catalog=CatalogClient(upstreams["catalog"]),
            inventory=InventoryClient(upstreams["inventory"]),
            orders=OrdersClient(upstreams["orders"]),
            recommendations=RecommendationsClient(upstreams["recommendations"]),
        )

    @property
    def settings(self) -> MobileSettings:
        """The settings in force now (hot reload swaps them between requests)."""
        return self.runtime.settings

    def deadline(self) -> Deadline:
        """A fresh deadline for one inbound request."""
        return Deadline.after(self.settings.deadline_seconds)


def deps_of(request: Request) -> MobileDeps:
    deps: MobileDeps = request.state.deps
    return deps
