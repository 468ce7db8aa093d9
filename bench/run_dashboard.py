"""Side-by-side load benchmark of the web dashboard: GraphQL against REST (issue 5).

Starts the upstream stand-ins with a fixed added latency, then one bff_web process per
target (one worker each, identical configuration), checks that the targets deliver the
same data, counts the upstream calls one screen costs on each, then drives each target in
turn with ``bench/screen_driver.py`` (whole screens, see its docstring for why not wrk),
interleaved for several rounds, and reports the median screens/s, p50/p99 per screen,
upstream calls per screen and the CPU each process spent::

    .venv/bin/python bench/run_dashboard.py                     # about 2.5 minutes
    .venv/bin/python bench/run_dashboard.py --profile graphql   # adds a py-spy sample

Targets:

* ``graphql``: the web app's persisted ``Dashboard`` query (bff_web/persisted_queries.json),
  sent by hash as production does, with ``orders: 10, recommended: 5``.
* ``graphql[rest-data]``: the same query without ``recommendations`` (bff_web's REST API
  has no recommendations endpoint), also sent by hash (registered once through automatic
  persisted queries): exactly the data the REST client gets, the like-for-like comparison.
* ``rest``: ``/v1/me`` and ``/v1/orders?limit=10`` at once, then ``/v1/products/{id}`` for
  every distinct product on the page (for its stock), at once.

Pinning as in run_home.py: the driver and the stand-ins share CPU 0, the target under test
has CPU 1 (``--pin none`` lets the kernel place them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import (
    BenchError,
    Child,
    WrkResult,
    pinned,
    request_json,
    reset_stats,
    run_wrk,
    set_latency,
    upstream_requests,
)
from results import Column, Run, Summary, machine_facts, run_json, table
from rounds import exit_on_sigterm, measure_rounds, measured_run, profiled, start_stack
from run_home import USERS, check_round_trip, first_difference, standins_command, write_tokens

from bff_web.graphql.persisted import sha256
from upstreams.registry import registered_upstreams

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
GRAPHQL = "graphql"
GRAPHQL_REST_DATA = "graphql[rest-data]"
REST = "rest"
ORDERS = 10
RECOMMENDED = 5
#: Users whose dashboard every target must deliver identically before any load.
CHECK_USERS = (1, 2, 500, 1000)
#: Users over whose screens the upstream calls of one screen are counted: others than
#: CHECK_USERS, whose rate-limit buckets (bff_web limits each user) the check has drawn on.
COUNT_USERS = (3, 4, 501, 999)
#: Every upstream the dashboard reads; ``--cache off`` sets their cache TTL to 0.
DASHBOARD_UPSTREAMS = ("accounts", "catalog", "inventory", "orders", "recommendations")
PERSISTED_QUERIES = REPO / "bff_web" / "persisted_queries.json"
#: The dashboard as the web app asks for it, minus recommendations: what REST can deliver.
REST_DATA_QUERY = """query DashboardRestData($orders: Int = 10) {
  viewer {
    profile { name email address { city country } }
    orders(first: $orders) {
      items {
        id status placedAt total { amount currency }
        items {
          quantity unitPrice { amount currency }
          product { id name price { amount currency } imageUrl stock { available inStock } }
        }
      }
      nextCursor
    }
  }
}"""


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    port: int
    #: ``screen_driver.py`` arguments after the URL.
    driver_args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> tuple[str, ...]:
        return (PYTHON, "-m", "shared.cli", "serve", "web")


def dashboard_document() -> tuple[str, str]:
    """(sha256, document) of the persisted query named Dashboard."""
    allowlist = json.loads(PERSISTED_QUERIES.read_text())
    for digest, document in allowlist.items():
        if document.startswith("query Dashboard("):
            return digest, document
    raise BenchError(f"{PERSISTED_QUERIES} holds no 'query Dashboard(...)'; which query is the dashboard now?")


def bff_web_env(port: int, args: argparse.Namespace) -> dict[str, str]:
    """The same configuration for every target: the bundled config.yaml with production's
    GraphQL settings, except that persisted queries may be registered (for the rest-data
    query; the Dashboard comes from the allowlist either way)."""
    env = {
        "BFF_SERVER__PORT": str(port),
        "BFF_ADMIN__PORT": str(port + 1000),
        "BFF_HTTP__TRANSPORT": "aiohttp",
        "BFF_GRAPHQL__INTROSPECTION": "false",
        "BFF_GRAPHQL__GRAPHIQL": "false",
        "BFF_GRAPHQL__PERSISTED_ONLY": "false",
        # Stopping at the end need not wait for a load balancer to notice (measures nothing).
        "BFF_SERVER__DRAIN_SECONDS": "0",
    }
    if args.cache == "off":
        env |= {f"BFF_UPSTREAMS__{name.upper()}__POLICY__CACHE__TTL": "0" for name in DASHBOARD_UPSTREAMS}
    if args.auth == "trusted_header":
        env["BFF_AUTH__MODE"] = "trusted_header"
    return env


def all_targets(args: argparse.Namespace) -> tuple[Target, ...]:
    digest, _ = dashboard_document()
    full = json.dumps({"orders": ORDERS, "recommended": RECOMMENDED})
    return (
        Target(GRAPHQL, 8180, ("--hash", digest, "--variables", full), bff_web_env(8180, args)),
        Target(
            GRAPHQL_REST_DATA,
            8181,
            ("--hash", sha256(REST_DATA_QUERY), "--variables", json.dumps({"orders": ORDERS})),
            bff_web_env(8181, args),
        ),
        Target(REST, 8182, ("--orders", str(ORDERS)), bff_web_env(8182, args)),
    )


TARGET_NAMES = (GRAPHQL, GRAPHQL_REST_DATA, REST)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded load per target first")
    parser.add_argument("--clients", type=int, default=32, help="virtual users, one screen at a time each (default 32)")
    parser.add_argument(
        "--connections-per-client",
        type=int,
        default=6,
        help="connections of one virtual user, as a browser opens to one host (default 6; REST uses them)",
    )
    parser.add_argument("--latency-ms", type=float, default=2, help="latency added by every stand-in (default 2)")
    parser.add_argument(
        "--pin", choices=["split", "none"], default="split", help="split: driver+stand-ins on CPU 0, target on CPU 1"
    )
    parser.add_argument(
        "--cache",
        choices=["off", "on"],
        default="off",
        help="off (default): cache TTL 0 on every dashboard upstream, so each screen makes its real calls",
    )
    parser.add_argument(
        "--auth",
        choices=["jwt", "trusted_header"],
        default="jwt",
        help="jwt (default): bearer tokens verified against the identity stand-in, as in production",
    )
    parser.add_argument(
        "--repeat-disturbed",
        type=int,
        default=4,
        metavar="N",
        help="measure a run again when other work used the CPU, at most N times in all (default 4)",
    )
    parser.add_argument("--targets", nargs="+", choices=TARGET_NAMES, default=list(TARGET_NAMES), metavar="NAME")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=TARGET_NAMES,
        metavar="NAME",
        help="after the rounds, sample NAME with py-spy under the same load (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="logs and raw results (default bench/out)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.clients < 1:
        parser.error("--rounds, --duration and --clients must be at least 1, --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    targets = [t for t in all_targets(args) if t.name in args.targets]
    load_cpu, target_cpu = ("0", "1") if args.pin == "split" else (None, None)
    standin_urls = sorted({url for spec in registered_upstreams() for url in spec.local_regions.values()})

    exit_on_sigterm()
    try:
        with contextlib.ExitStack() as running:
            standins, children = start_stack(
                running,
                targets=targets,
                standins_command=standins_command("uvloop"),
                standin_urls=standin_urls,
                pins=(load_cpu, target_cpu),
                out=args.out,
                ready_path=lambda target: "/readyz",
                check_standin=check_round_trip,
            )
            set_latency(standin_urls, args.latency_ms)
            tokens = write_tokens(args.out / "tokens.txt")
            client = Client(tokens)
            client.register(targets)
            check_same_data(client, targets)
            per_screen = {t.name: count_calls(client, t, standin_urls) for t in targets}

            bench = Bench(args, load_cpu, standins, children, standin_urls)
            runs = measure_rounds(
                targets,
                rounds=args.rounds,
                warmup_s=args.warmup,
                repeat_disturbed=args.repeat_disturbed,
                load=bench.load,
                measure=bench.measure,
                progress=progress,
            )
            for child in [standins, *children.values()]:
                child.check_alive()
            profiles = [bench.profile(target) for target in targets if target.name in args.profile]
    except BenchError as exc:
        print(f"run_dashboard: {exc}", file=sys.stderr)
        return 1

    summaries = [Summary.of(t.name, [r for r in runs if r.target == t.name]) for t in targets]
    report = render_report(args, summaries, runs, per_screen)
    print("\n" + report)
    for text in profiles:
        print(text)
    (args.out / "dashboard-latest.md").write_text(report)
    raw = {
        "settings": _settings(args),
        "machine": machine_facts(),
        "per_screen": {name: asdict(counts) for name, counts in per_screen.items()},
        "runs": [run_json(r) for r in runs],
    }
    (args.out / "dashboard-latest.json").write_text(json.dumps(raw, indent=2))
    return 0


# ---- one screen, sequentially, with the standard library (checks and counting) -------------


class Client:
    """Fetches one dashboard screen the way the driver does, one request at a time."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = tokens
        self.http_requests = 0

    def headers(self, uid: int) -> dict[str, str]:
        return {"X-User-Id": str(uid), "Authorization": f"Bearer {self._tokens[uid - 1]}"}

    def get(self, url: str, uid: int) -> Any:
        self.http_requests += 1
        status, body = request_json("GET", url, headers=self.headers(uid))
        if status != 200:
            raise BenchError(f"GET {url} for user {uid} answered {status}: {body!r}")
        return body

    def graphql(self, target: Target, uid: int, document: str | None = None) -> dict[str, Any]:
        digest, variables = target.driver_args[1], json.loads(target.driver_args[3])
        payload: dict[str, Any] = {
            "variables": variables,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        }
        if document is not None:
            payload["query"] = document
        self.http_requests += 1
        headers = {**self.headers(uid), "Accept": "application/graphql-response+json"}
        status, body = request_json("POST", target.url + "/graphql", payload, headers=headers)
        if status != 200 or not isinstance(body, dict) or body.get("errors"):
            raise BenchError(f"{target.name} answered {status} to the dashboard query for user {uid}: {body!r}")
        data: dict[str, Any] = body["data"]
        return data

    def register(self, targets: Sequence[Target]) -> None:
        """Register the rest-data query (automatic persisted queries) where it is sent."""
        for target in targets:
            if target.name == GRAPHQL_REST_DATA:
                self.graphql(target, 1, REST_DATA_QUERY)

    def screen(self, target: Target, uid: int) -> dict[str, Any]:
        """The screen's data in one shape whichever way it was fetched (see ``dashboard_view``)."""
        if target.name != REST:
            return graphql_view(self.graphql(target, uid))
        me = self.get(target.url + "/v1/me", uid)
        page = self.get(f"{target.url}/v1/orders?limit={ORDERS}", uid)
        ids = dict.fromkeys(line["product_id"] for order in page["items"] for line in order["lines"] or ())
        stock = {pid: self.get(f"{target.url}/v1/products/{pid}", uid)["stock"] for pid in ids}
        # GraphQL's names, so both views compare field by field.
        stock = {pid: s and {"available": s["available"], "inStock": s["in_stock"]} for pid, s in stock.items()}
        return rest_view(me, page, stock)


def graphql_view(data: dict[str, Any]) -> dict[str, Any]:
    viewer = data["viewer"]
    profile, orders = viewer["profile"], viewer["orders"]
    view = {
        "profile": {"name": profile["name"], "email": profile["email"], **profile["address"]},
        "orders": [
            {
                "id": order["id"],
                "status": order["status"],
                "placed_at": datetime.fromisoformat(order["placedAt"]),
                "total": order["total"],
                "lines": [
                    {
                        "quantity": line["quantity"],
                        "unit_price": line["unitPrice"],
                        "product": line["product"] and _product(line["product"], line["product"]["stock"]),
                    }
                    for line in order["items"]
                ],
            }
            for order in orders["items"]
        ],
        "next_cursor": orders["nextCursor"],
    }
    if "recommendations" in viewer:
        view["recommendations"] = viewer["recommendations"]
    return view


def rest_view(me: dict[str, Any], page: dict[str, Any], stock: Mapping[int, dict[str, Any] | None]) -> dict[str, Any]:
    address = me["address"]
    return {
        "profile": {"name": me["name"], "email": me["email"], "city": address["city"], "country": address["country"]},
        "orders": [
            {
                "id": order["id"],
                "status": order["status"],
                "placed_at": datetime.fromisoformat(order["placed_at"]),
                "total": order["total"],
                "lines": [
                    {
                        "quantity": line["quantity"],
                        "unit_price": line["unit_price"],
                        "product": line["product"]
                        and _product(
                            {**line["product"], "imageUrl": line["product"]["image_url"]}, stock[line["product_id"]]
                        ),
                    }
                    for line in order["lines"] or ()
                ],
            }
            for order in page["items"]
        ],
        "next_cursor": page["next_cursor"],
    }


def _product(product: dict[str, Any], stock: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": str(product["id"]),
        "name": product["name"],
        "price": product["price"],
        "image_url": product["imageUrl"],
        "stock": stock,
    }


def check_same_data(client: Client, targets: Sequence[Target]) -> None:
    """Refuse to compare targets that do not deliver the same dashboard."""
    for uid in CHECK_USERS:
        views = {t.name: client.screen(t, uid) for t in targets}
        if GRAPHQL in views:
            recommendations = views[GRAPHQL].pop("recommendations", None)
            if not recommendations or len(recommendations) != RECOMMENDED:
                raise BenchError(f"{GRAPHQL} gave user {uid} {recommendations!r}, not {RECOMMENDED} recommendations")
        (first_name, first), *others = views.items()
        for name, view in others:
            difference = first_difference(first, view)
            if difference:
                raise BenchError(f"{name} and {first_name} deliver user {uid}'s dashboard differently at {difference}")


@dataclass(frozen=True, slots=True)
class PerScreen:
    """What one screen costs, fetched alone: HTTP requests by the client, upstream calls."""

    http_requests: float
    upstream_calls: float


def count_calls(client: Client, target: Target, standin_urls: Sequence[str]) -> PerScreen:
    requests_before = client.http_requests
    reset_stats(standin_urls)
    for uid in COUNT_USERS:
        client.screen(target, uid)
    calls = upstream_requests(standin_urls)
    screens = len(COUNT_USERS)
    return PerScreen((client.http_requests - requests_before) / screens, calls / screens)


# ---- load ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Bench:
    args: argparse.Namespace
    load_cpu: str | None
    standins: Child
    children: Mapping[str, Child]
    standin_urls: Sequence[str]
    #: The rotation over users goes on from run to run (see screen_driver.py --first-user).
    next_user: int = 1

    def load(self, target: Target, seconds: int) -> WrkResult:
        command = [PYTHON, str(BENCH_DIR / "screen_driver.py"), "rest" if target.name == REST else "graphql"]
        command += [target.url, *target.driver_args, "--tokens", str(self.args.out / "tokens.txt")]
        command += ["--clients", str(self.args.clients), "--duration", str(seconds)]
        command += ["--connections-per-client", str(self.args.connections_per_client)]
        command += ["--first-user", str(self.next_user)]
        result = run_wrk(pinned(self.load_cpu, command), seconds)
        self.next_user = (self.next_user - 1 + result.requests + self.args.clients) % USERS + 1
        return result

    def measure(self, target: Target, round_no: int) -> Run:
        """One recorded run, with every process's CPU and the upstream calls made."""
        # Each virtual user has one screen in flight when the driver stops (see
        # Run.calls_per_request); for REST that screen may be partly fetched, so
        # calls/screen under load is a little low there: the sequential count is exact.
        return measured_run(
            target.name,
            round_no,
            connections=self.args.clients,
            child=self.children[target.name],
            standins=self.standins,
            standin_urls=self.standin_urls,
            load=lambda: self.load(target, self.args.duration),
            output=self.args.out / f"dashboard-{target.name}-{round_no}.txt",
        )

    def profile(self, target: Target) -> str:
        """Sample ``target`` with py-spy under the same load; returns the summary."""
        return profiled(
            target.name,
            self.children[target.name],
            seconds=self.args.duration,
            load=lambda seconds: self.load(target, seconds),
            load_cpu=self.load_cpu,
            out=self.args.out,
            prefix="profile-dashboard",
            top=40,
        )


# ---- report --------------------------------------------------------------------------------


def failures(result: WrkResult) -> dict[str, int]:
    """Why screens failed (a status, or a GraphQL error code), from the driver's BENCH_JSON."""
    line = next(ln for ln in result.output.splitlines() if ln.startswith("BENCH_JSON "))
    found: dict[str, int] = json.loads(line.removeprefix("BENCH_JSON ")).get("failures", {})
    return found


def progress(run: Run) -> str:
    w = run.wrk
    reasons = failures(w)
    return (
        f"round {run.round} {run.target:<19} {w.rps:7,.0f} screens/s  p50 {w.p50_ms:6.2f} ms  p99 {w.p99_ms:7.2f} ms"
        f"  calls/screen {run.calls_per_request:5.1f}  failed {w.non2xx}"
        + (f" {reasons}" if reasons else "")
        + f"  CPU% target {run.share(run.target_cpu_s):.0f} stand-ins {run.share(run.standins_cpu_s):.0f}"
        f" driver {run.share(run.wrk_cpu_s):.0f} rest {run.share(run.rest_cpu_s):.0f}"
    )


def columns(per_screen: Mapping[str, PerScreen]) -> tuple[Column, ...]:
    return (
        ("target", lambda s: s.target),
        ("rounds used", lambda s: f"{s.used}/{s.rounds}" + (" (all disturbed)" if s.all_disturbed else "")),
        ("screens/s", lambda s: f"{s.rps:,.0f}"),
        ("screens/s range", lambda s: f"{s.rps_min:,.0f}-{s.rps_max:,.0f}"),
        ("p50 ms", lambda s: f"{s.p50_ms:.1f}"),
        ("p99 ms", lambda s: f"{s.p99_ms:.1f}"),
        ("HTTP requests/screen", lambda s: f"{per_screen[s.target].http_requests:.1f}"),
        ("upstream calls/screen", lambda s: f"{per_screen[s.target].upstream_calls:.1f}"),
        ("upstream calls/screen under load", lambda s: f"{s.upstream_calls_per_request:.1f}"),
        ("failed screens", lambda s: str(s.non2xx)),
        ("socket errors", lambda s: str(s.socket_errors)),
        ("target CPU ms/screen", lambda s: f"{s.cpu_ms_per_request:.2f}"),
        ("target CPU %", lambda s: f"{s.target_cpu_pct:.0f}"),
        ("stand-ins CPU %", lambda s: f"{s.standins_cpu_pct:.0f}"),
        ("driver CPU %", lambda s: f"{s.wrk_cpu_pct:.0f}"),
        ("rest CPU %", lambda s: f"{s.rest_cpu_pct:.0f}"),
    )


def render_report(
    args: argparse.Namespace, summaries: Sequence[Summary], runs: Sequence[Run], per_screen: Mapping[str, PerScreen]
) -> str:
    from importlib.metadata import version

    facts = machine_facts()
    lines = [
        f"command: {' '.join([Path(PYTHON).name, 'bench/run_dashboard.py', *(sys.argv[1:])])}",
        f"machine: {facts['nproc']} CPUs, {facts['cpu_model']}; Python {facts['python']}; {facts['versions']};"
        f" strawberry-graphql {version('strawberry-graphql')}, graphql-core {version('graphql-core')}",
        f"settings: {json.dumps(_settings(args))}",
        "",
        *table(summaries, columns(per_screen)),
        "",
    ]
    by_name = {s.target: s for s in summaries}
    if GRAPHQL_REST_DATA in by_name and REST in by_name and by_name[REST].ok_rps:
        gql, rest = by_name[GRAPHQL_REST_DATA], by_name[REST]
        line = f"same data: {GRAPHQL_REST_DATA} / {REST} screens/s {gql.ok_rps / rest.ok_rps:.2f}x"
        if gql.cpu_ms_per_request:
            line += f", by CPU cost per screen {rest.cpu_ms_per_request / gql.cpu_ms_per_request:.2f}x"
        line += f"; p99 {gql.p99_ms:.1f} ms vs {rest.p99_ms:.1f} ms"
        lines.append(line)
    if GRAPHQL in by_name and GRAPHQL_REST_DATA in by_name and by_name[GRAPHQL_REST_DATA].cpu_ms_per_request:
        full, part = by_name[GRAPHQL], by_name[GRAPHQL_REST_DATA]
        lines.append(
            f"recommendations cost: {GRAPHQL} / {GRAPHQL_REST_DATA} CPU per screen"
            f" {full.cpu_ms_per_request / part.cpu_ms_per_request:.2f}x"
        )
    noisy = [f"{r.target} #{r.round} ({r.share(r.rest_cpu_s):.0f}%)" for r in runs if r.disturbed]
    if noisy:
        lines.append(f"Disturbed by other work (left out where an undisturbed round exists): {', '.join(noisy)}")
    return "\n".join(lines) + "\n"


def _settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "driver": f"bench/screen_driver.py --clients {args.clients} --duration {args.duration}"
        f" --connections-per-client {args.connections_per_client}",
        "rounds": args.rounds,
        "repeat_disturbed": args.repeat_disturbed,
        "warmup_s": args.warmup,
        "standin_latency_ms": args.latency_ms,
        "pin": "driver+stand-ins on CPU 0, target on CPU 1" if args.pin == "split" else "none",
        "cache": args.cache,
        "auth": args.auth,
    }


if __name__ == "__main__":
    sys.exit(main())
