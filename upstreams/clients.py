"""Every upstream's typed client in one bundle: what screen services of either process
depend on, built once per process by its lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from shared import Deadline, ProcessSettings
from shared.runtime import Runtime
from upstreams.accounts import AccountsClient
from upstreams.catalog import CatalogClient
from upstreams.inventory import InventoryClient
from upstreams.orders import OrdersClient
from upstreams.recommendations import RecommendationsClient

SettingsT = TypeVar("SettingsT", bound=ProcessSettings)


@dataclass(frozen=True, slots=True)
class UpstreamClients(Generic[SettingsT]):
    runtime: Runtime[SettingsT]
    accounts: AccountsClient
    catalog: CatalogClient
    inventory: InventoryClient
    orders: OrdersClient
    recommendations: RecommendationsClient

    @classmethod
    def from_runtime(cls, runtime: Runtime[SettingsT]) -> UpstreamClients[SettingsT]:
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
    def settings(self) -> SettingsT:
        """The settings in force now (hot reload swaps them between requests)."""
        return self.runtime.settings

    def deadline(self) -> Deadline:
        """A fresh deadline for one inbound request."""
        return Deadline.after(self.settings.deadline_seconds)


__all__ = ["UpstreamClients"]
