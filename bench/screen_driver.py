"""Load driver for the dashboard benchmark: whole screens, as a web client fetches them.

One request cannot be one dashboard screen when the client uses REST, so wrk (which
counts HTTP requests, each timed on its own) cannot compare the two. This driver runs
``--clients`` virtual users in a closed loop, each fetching one screen after another and
timing the whole screen, for ``--duration`` seconds::

    python bench/screen_driver.py graphql http://127.0.0.1:8180 --tokens out/tokens.txt \\
        --hash <sha256 of the persisted document> --variables '{"orders": 10}'
    python bench/screen_driver.py rest http://127.0.0.1:8182 --tokens out/tokens.txt

* ``graphql``: one POST /graphql per screen, the document sent as a persisted query
  (its SHA-256 only, as the production web app does).
* ``rest``: ``GET /v1/me`` and ``GET /v1/orders?limit=N`` at once, then
  ``GET /v1/products/{id}`` for every distinct product of the page's order lines, at
  once (the page shows each line's stock, which only the product page carries). Like a
  browser, each virtual user has at most ``--connections-per-client`` connections (6).

Screens rotate over users 1..N (line N of ``--tokens`` is user N's bearer token). Every
response is parsed as JSON, on both sides, as a client would. A screen with any non-2xx
answer, or GraphQL ``errors``, counts as a failed screen. When the time is up, screens in
flight are abandoned, as wrk abandons its in-flight requests. The last line printed is
``BENCH_JSON {...}`` with the keys wrk's ``home.lua`` prints, counting screens, so
``harness.run_wrk`` reads it; ``http_requests`` adds the HTTP requests made.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

#: Connections per virtual user: what a browser opens to one HTTP/1.1 host.
BROWSER_CONNECTIONS = 6
SCREEN_TIMEOUT_S = 10.0


@dataclass
class Tally:
    latencies_us: list[float] = field(default_factory=list)
    failed: int = 0
    errors: int = 0
    timeouts: int = 0
    http_requests: int = 0
    #: Why screens failed: "503" (a status) or a GraphQL error code, and how often.
    failures: Counter[str] = field(default_factory=Counter)


class Users:
    """Bearer tokens by user, handed out round robin across all virtual users."""

    def __init__(self, tokens: Sequence[str], first: int = 1) -> None:
        self._headers = [
            {"Authorization": f"Bearer {token}", "X-User-Id": str(uid)} for uid, token in enumerate(tokens, 1)
        ]
        self._next = (first - 1) % len(self._headers)

    def next(self) -> dict[str, str]:
        headers = self._headers[self._next]
        self._next = (self._next + 1) % len(self._headers)
        return headers


Screen = Callable[[aiohttp.ClientSession, dict[str, str], Tally], Awaitable[bool]]


async def _get(session: aiohttp.ClientSession, url: str, headers: dict[str, str], tally: Tally) -> tuple[bool, Any]:
    tally.http_requests += 1
    async with session.get(url, headers=headers) as response:
        body = orjson.loads(await response.read())
        ok = 200 <= response.status < 300
        if not ok:
            tally.failures[str(response.status)] += 1
        return ok, body


def graphql_screen(base_url: str, digest: str, variables: dict[str, Any], operation: str | None) -> Screen:
    payload: dict[str, Any] = {
        "variables": variables,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
    }
    if operation:
        payload["operationName"] = operation
    body = orjson.dumps(payload)
    url = base_url + "/graphql"

    async def screen(session: aiohttp.ClientSession, headers: dict[str, str], tally: Tally) -> bool:
        tally.http_requests += 1
        headers = {**headers, "Content-Type": "application/json", "Accept": "application/graphql-response+json"}
        async with session.post(url, data=body, headers=headers) as response:
            answer = orjson.loads(await response.read())
            if response.status != 200:
                tally.failures[str(response.status)] += 1
                return False
            for error in answer.get("errors", ()):
                tally.failures[error.get("extensions", {}).get("code", "no code")] += 1
            return "errors" not in answer

    return screen


def rest_screen(base_url: str, orders: int) -> Screen:
    me_url, orders_url = base_url + "/v1/me", f"{base_url}/v1/orders?limit={orders}"
    product_url = base_url + "/v1/products/"

    async def screen(session: aiohttp.ClientSession, headers: dict[str, str], tally: Tally) -> bool:
        (me_ok, _), (orders_ok, page) = await asyncio.gather(
            _get(session, me_url, headers, tally), _get(session, orders_url, headers, tally)
        )
        if not orders_ok:
            return False
        ids = dict.fromkeys(line["product_id"] for order in page["items"] for line in order["lines"] or ())
        products = await asyncio.gather(*(_get(session, f"{product_url}{pid}", headers, tally) for pid in ids))
        return me_ok and all(ok for ok, _ in products)

    return screen


async def virtual_user(screen: Screen, users: Users, tally: Tally, stop_at: float, connections: int) -> None:
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=SCREEN_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while (began := time.perf_counter()) < stop_at:
            try:
                ok = await screen(session, users.next(), tally)
            except TimeoutError:
                tally.timeouts += 1
                continue
            except (aiohttp.ClientError, orjson.JSONDecodeError, KeyError, TypeError):
                tally.errors += 1
                continue
            tally.latencies_us.append(1e6 * (time.perf_counter() - began))
            if not ok:
                tally.failed += 1


async def drive(screen: Screen, users: Users, clients: int, duration_s: float, connections: int) -> tuple[Tally, float]:
    tally = Tally()
    began = time.perf_counter()
    stop_at = began + duration_s
    tasks = [asyncio.create_task(virtual_user(screen, users, tally, stop_at, connections)) for _ in range(clients)]
    # The loops stop starting screens at stop_at; a screen still in flight is abandoned.
    await asyncio.wait(tasks, timeout=duration_s)
    elapsed = time.perf_counter() - began
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally, elapsed


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def report(tally: Tally, elapsed_s: float) -> dict[str, Any]:
    latencies = tally.latencies_us
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed_s * 1e6),
        "non2xx": tally.failed,
        "connect_errors": 0,
        "read_errors": tally.errors,
        "write_errors": 0,
        "timeouts": tally.timeouts,
        "p50_us": int(statistics.median(latencies)) if latencies else 0,
        "p90_us": int(percentile(latencies, 90)),
        "p99_us": int(percentile(latencies, 99)),
        "max_us": int(max(latencies, default=0)),
        "http_requests": tally.http_requests,
        "failures": dict(tally.failures),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("screen", choices=["graphql", "rest"])
    parser.add_argument("url", help="base URL of bff_web, e.g. http://127.0.0.1:8180")
    parser.add_argument("--tokens", type=Path, required=True, help="bearer tokens, line N for user N")
    parser.add_argument("--clients", type=int, default=32, help="virtual users, each one screen at a time")
    parser.add_argument(
        "--connections-per-client",
        type=int,
        default=BROWSER_CONNECTIONS,
        help=f"connections of one virtual user (default {BROWSER_CONNECTIONS}, as a browser)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds")
    parser.add_argument(
        "--first-user",
        type=int,
        default=1,
        help="user of the first screen; a harness continues the rotation from run to run, so no user comes"
        " round again sooner than the rotation brings it (bff_web limits each user's request rate)",
    )
    parser.add_argument("--orders", type=int, default=10, help="orders per page (REST limit)")
    parser.add_argument("--hash", help="graphql: SHA-256 of the persisted document")
    parser.add_argument("--variables", default="{}", help="graphql: variables as JSON")
    parser.add_argument("--operation", help="graphql: operationName")
    args = parser.parse_args(argv)
    if args.screen == "graphql" and not args.hash:
        parser.error("graphql needs --hash")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tokens = args.tokens.read_text().split()
    if args.screen == "graphql":
        screen = graphql_screen(args.url, args.hash, orjson.loads(args.variables), args.operation)
    else:
        screen = rest_screen(args.url, args.orders)
    tally, elapsed = uvloop.run(
        drive(screen, Users(tokens, args.first_user), args.clients, args.duration, args.connections_per_client)
    )
    print("BENCH_JSON " + orjson.dumps(report(tally, elapsed)).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
