"""CPU time of executing one dashboard query, GraphQL alone (no sockets, no upstream I/O).

A tool for finding where GraphQL time goes, not a benchmark of record (that is
``run_dashboard.py``). It runs bff_web's real schema, resolvers and DataLoaders on one
event loop, with the typed upstream clients answering from memory: every upstream answer
is fetched once from the stand-in apps in-process and parsed into its model before
timing, so what is timed is parsing/validating (cached), executing the fields, the
loaders' batching and serializing the result. Prints CPU time per execution, best round
and median (other work on the machine only adds time)::

    .venv/bin/python bench/graphql_probe.py                   # the full persisted Dashboard
    .venv/bin/python bench/graphql_probe.py --rounds 8 --executions 400
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bff_web.graphql.context import GraphQLContext
from bff_web.graphql.limits import RequestBudget
from bff_web.graphql.loaders import Loaders
from bff_web.graphql.schema import build_schema
from bff_web.settings import GraphQLSettings, WebSettings
from shared import Deadline, Operation
from upstreams.accounts import AccountsClient
from upstreams.catalog import CatalogClient
from upstreams.inventory import InventoryClient
from upstreams.orders import OrdersClient
from upstreams.recommendations import RecommendationsClient
from upstreams.registry import registered_upstreams

PERSISTED = Path(__file__).resolve().parent.parent / "bff_web" / "persisted_queries.json"
USERS = range(1, 41)


class MemoryUpstream:
    """Answers ``call`` from memory; ``prefetch`` mode asks the stand-in app and keeps the model."""

    def __init__(self, app: Any) -> None:
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin")
        self._answers: dict[tuple[str, str], Any] = {}
        self.prefetching = True

    async def call(
        self,
        operation: Operation[Any],
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: Deadline,
        cache_user: int | None = None,
        **_: Any,
    ) -> Any:
        path = operation.path.format(**(path_params or {}))
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        key = (operation.name, url)
        if key not in self._answers:
            if not self.prefetching:
                raise RuntimeError(f"{key} was not prefetched")
            response = await self._client.get(url)
            response.raise_for_status()
            self._answers[key] = operation.response.model_validate_json(response.content)
        return self._answers[key]


def memory_deps() -> tuple[Any, list[MemoryUpstream]]:
    specs = {spec.name: spec for spec in registered_upstreams()}
    upstreams = {}
    for name in ("accounts", "catalog", "inventory", "orders", "recommendations"):
        app = next(iter(specs[name].create_standins(["eu-west-1"]).values()))
        upstreams[name] = MemoryUpstream(app)
    settings = WebSettings.model_validate({"admin": {"port": None}})
    deps = SimpleNamespace(
        settings=settings,
        accounts=AccountsClient(upstreams["accounts"]),
        catalog=CatalogClient(upstreams["catalog"]),
        inventory=InventoryClient(upstreams["inventory"]),
        orders=OrdersClient(upstreams["orders"]),
        recommendations=RecommendationsClient(upstreams["recommendations"]),
        deadline=lambda: Deadline.after(5.0),
    )
    return deps, list(upstreams.values())


def dashboard() -> str:
    for document in json.loads(PERSISTED.read_text()).values():
        if document.startswith("query Dashboard("):
            return str(document)
    raise SystemExit(f"no Dashboard query in {PERSISTED}")


async def run(args: argparse.Namespace) -> list[float]:
    deps, upstreams = memory_deps()
    schema = build_schema(GraphQLSettings(introspection=False, graphiql=False))
    document = dashboard()
    variables = {"orders": 10, "recommended": 5}

    async def execute(uid: int) -> bytes:
        deadline = deps.deadline()
        context = GraphQLContext(
            deps=deps,
            user_id=uid,
            deadline=deadline,
            loaders=Loaders(deps, deadline),
            budget=RequestBudget(tokens=1500),
        )
        result = await schema.execute(document, variable_values=variables, context_value=context)
        if result.errors:
            raise SystemExit(f"user {uid}: {result.errors}")
        return orjson.dumps({"data": result.data})

    for uid in USERS:
        await execute(uid)
    for upstream in upstreams:
        upstream.prefetching = False
    rounds = []
    for _ in range(args.rounds):
        gc.collect()
        began = time.process_time()
        for index in range(args.executions):
            await execute(USERS[index % len(USERS)])
        rounds.append(1e6 * (time.process_time() - began) / args.executions)
    return rounds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--executions", type=int, default=300, help="per round")
    args = parser.parse_args(argv)
    rounds = uvloop.run(run(args))
    print(
        f"Dashboard, GraphQL execution only: best {min(rounds):,.0f} us CPU, median {statistics.median(rounds):,.0f} us"
        f" ({args.rounds} rounds of {args.executions})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
