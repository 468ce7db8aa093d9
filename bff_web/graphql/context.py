"""What every resolver of one request shares: clients, the caller, one deadline, loaders."""

from __future__ import annotations

from dataclasses import dataclass

from bff_web.deps import WebDeps
from bff_web.graphql.limits import RequestBudget
from bff_web.graphql.loaders import Loaders
from shared import Deadline, Unauthenticated


@dataclass(slots=True)
class GraphQLContext:
    deps: WebDeps
    user_id: int | None
    deadline: Deadline
    loaders: Loaders
    #: What this request's documents may still use together (a batch shares it).
    budget: RequestBudget

    def viewer_id(self) -> int:
        if self.user_id is None:
            raise Unauthenticated("viewer needs the caller's identity in the X-User-Id header", field="X-User-Id")
        return self.user_id
