"""CPU time the serving thread spends per ``GET /v1/home`` (or ``--path``), for variants of bff_mobile's config.

A tool for finding where CPU goes, not a benchmark of record (that is ``run_home.py``).
The stand-ins run in a process of their own (``bench/standins.py``, the local ports);
each variant's app runs here, driven through ASGI directly (no sockets on the inbound
side, real aiohttp upstream calls), ``CONCURRENCY`` requests at a time. CPU time of
this process only is counted, so the stand-ins and other work do not blur it::

    .venv/bin/python bench/cpu_probe.py                      # every variant, 30 rounds of 300
    .venv/bin/python bench/cpu_probe.py --variants reference no-telemetry --rounds 60
    .venv/bin/python bench/cpu_probe.py --variants as-shipped --path /v1/products/42 --count-calls --profile-calls 25

``as-shipped`` keeps the response cache on (the warm path: after round 0, hits); the
others turn it off, so every request makes the ceiling's upstream calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvloop

from bff_mobile.app import create_app
from bff_mobile.settings import MobileSettings
from shared.telemetry.logs import configure_logging
from upstreams.registry import registered_upstreams

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HOME_UPSTREAMS = ("accounts", "catalog", "inventory", "orders", "recommendations")
CONCURRENCY = 16
NO_CACHE = {name: {"policy": {"cache": {"ttl": 0}}} for name in HOME_UPSTREAMS}


def variants() -> dict[str, MobileSettings]:
    def config(**overrides: Any) -> MobileSettings:
        data: dict[str, Any] = {
            "deadline_seconds": 5.0,
            "auth": {"mode": "trusted_header"},
            "admin": {"port": None},
            "upstreams": NO_CACHE,
            **overrides,
        }
        return MobileSettings.model_validate(data)

    return {
        "reference": config(),
        "as-shipped": config(upstreams={}),
        "no-screen-cache": config(upstreams={}, cache={"screen_bytes": 0}),
        "no-telemetry": config(telemetry={"enabled": False}),
        "no-call-logs": config(telemetry={"log_upstream_calls": False}),
        "sampled-all": config(telemetry={"sampling_ratio": 1.0}),
        "sampled-none": config(telemetry={"sampling_ratio": 0.0}),
        "log-warnings": config(log_level="warning"),
    }


#: The path every request asks for (``--path``).
PATH = "/v1/home"


async def drive(app: Any, requests: int, user_offset: int) -> float:
    """Send ``requests`` GET ``PATH`` through ``app``; return main-thread CPU s per request."""
    sent = 0
    path = PATH

    async def one(user: int) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"x-user-id", str(user).encode())],
            "client": ("127.0.0.1", 40000 + user % 1000),
            "server": ("127.0.0.1", 8080),
            "state": app_state,
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        if status != 200:
            raise RuntimeError(f"user {user}: status {status}")

    async def worker() -> None:
        nonlocal sent
        while sent < requests:
            sent += 1
            await one(1 + (user_offset + sent) % 1000)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (time.process_time() - started) / requests


app_state: dict[str, Any] = {}


async def measure(
    chosen: dict[str, MobileSettings],
    requests: int,
    rounds: int,
    calls: dict[str, tuple[float, float]] | None = None,
    profile_top: int = 0,
) -> dict[str, list[float]]:
    """Every variant's app is up at once and they take turns, ``requests`` each per round:
    the machine's slow drifts (other tenants, frequency) then fall on all of them alike."""
    costs: dict[str, list[float]] = {name: [] for name in chosen}
    async with contextlib.AsyncExitStack() as running:
        apps: dict[str, tuple[Any, dict[str, Any]]] = {}
        for name, settings in chosen.items():
            app = create_app(settings, None, environ={})
            state = await running.enter_async_context(app.router.lifespan_context(app))
            apps[name] = (app, dict(state or {}))
        for round_number in range(rounds + 1):  # round 0 warms up: connections, code paths
            for name, (app, state) in apps.items():
                logging.getLogger().setLevel(chosen[name].log_level.upper())
                app_state.clear()
                app_state.update(state)
                cost = await drive(app, requests, round_number * 7919)
                if round_number:
                    costs[name].append(cost)
                    print(f"round {round_number} {name:14s} {cost * 1e6:7.1f} us/request", flush=True)
            gc.collect()
        if calls is not None:
            for name, (app, state) in apps.items():
                logging.getLogger().setLevel(chosen[name].log_level.upper())
                app_state.clear()
                app_state.update(state)
                calls[name] = await count_calls(app, CALL_COUNT_REQUESTS)
                CALLS_BY_AREA[name] = CALLS_BY_AREA.pop(PATH)
        if profile_top:
            for name, (app, state) in apps.items():
                app_state.clear()
                app_state.update(state)
                print(f"--- {name}: cProfile of {CALL_COUNT_REQUESTS} requests, by own time", flush=True)
                print(await profile_calls(app, CALL_COUNT_REQUESTS, profile_top), flush=True)
    return costs


CALL_COUNT_REQUESTS = 200


#: Python calls per request by the area of the code called (``--count-calls``), per variant.
CALLS_BY_AREA: dict[str, Counter[str]] = {}


def area_of(filename: str) -> str:
    """Which part of the stack a function belongs to: a package, a folder of ours, asyncio."""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith(str(REPO)):
        parts = Path(filename).relative_to(REPO).parts
        return "/".join(parts[:2]).removesuffix(".py") if parts[0] == "shared" else parts[0]
    if "/asyncio/" in filename:
        return "asyncio"
    return "stdlib" if filename.startswith("/") else filename


async def count_calls(app: Any, requests: int) -> tuple[float, float]:
    """Python and C function calls per request: no noise, unlike time, so a change that
    should cost less shows even on a busy machine (though a call is not a fixed cost).
    Python calls are also tallied by area (``CALLS_BY_AREA``)."""
    counts = {"call": 0, "c_call": 0}
    areas: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event in counts:
            counts[event] += 1
            if event == "call":
                areas[frame.f_code.co_filename] += 1

    # The same requests twice first: warm means warm (the first pass may find entries past
    # their TTL and refresh them; only the second leaves every screen kept).
    await drive(app, requests, 0)
    await asyncio.sleep(0.05)
    await drive(app, requests, 0)
    sys.setprofile(profile)
    try:
        await drive(app, requests, 0)
    finally:
        sys.setprofile(None)
    by_area: Counter[str] = Counter()
    for filename, count in areas.items():
        by_area[area_of(filename)] += count
    CALLS_BY_AREA[PATH] = by_area
    return counts["call"] / requests, counts["c_call"] / requests


async def profile_calls(app: Any, requests: int, top: int) -> str:
    """The ``top`` functions by own time under cProfile, with their calls per request."""
    await drive(app, requests, 0)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await drive(app, requests, 0)
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+")
    parser.add_argument("--requests", type=int, default=300, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--path", default="/v1/home", help="the path every request asks for (default %(default)s)")
    parser.add_argument("--count-calls", action="store_true", help="also count function calls per request")
    parser.add_argument("--profile-calls", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    parser.add_argument("--log", default="bench/out/cpu_probe.log", help="where the log lines go")
    args = parser.parse_args(argv)
    global PATH
    PATH = args.path
    # Log as `bff serve` does, into a file: the lines cost what they cost in production.
    configure_logging("info", flush_seconds=MobileSettings().telemetry.log_flush_seconds)
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger().handlers[0].stream = open(args.log, "w")  # type: ignore[attr-defined]  # noqa: SIM115
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)  # as shared/serving.py does
    standins = subprocess.Popen(
        [sys.executable, str(BENCH / "standins.py")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_standins()
        all_variants = variants()
        chosen = {name: all_variants[name] for name in (args.variants or list(all_variants))}
        calls: dict[str, tuple[float, float]] | None = {} if args.count_calls else None
        results = uvloop.run(measure(chosen, args.requests, args.rounds, calls, args.profile_calls))
        # Per round, each variant against the first one measured next to it; the median of
        # those ratios, and of the costs (noise only adds CPU time, so the best is shown too).
        first = next(iter(results))
        for name, costs in results.items():
            ratios = [cost / base for cost, base in zip(costs, results[first], strict=True)]
            print(
                f"{name:14s} median {statistics.median(costs) * 1e6:7.1f} us/request"
                f" ({statistics.median(ratios) - 1:+.1%} vs {first}, per-round median),"
                f" best {min(costs) * 1e6:7.1f}"
            )
        for name, (python_calls, c_calls) in (calls or {}).items():
            print(f"{name:14s} {python_calls:7.0f} Python calls and {c_calls:7.0f} C calls per request")
            areas = ", ".join(
                f"{area} {count / CALL_COUNT_REQUESTS:.0f}" for area, count in CALLS_BY_AREA[name].most_common()
            )
            print(f"{'':14s} by area: {areas}")
    finally:
        standins.terminate()
        standins.wait()
    return 0


def wait_for_standins(timeout: float = 30) -> None:
    urls = [f"{url}/_health" for spec in registered_upstreams() for url in spec.local_regions.values()]
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                httpx.get(url, timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


if __name__ == "__main__":
    raise SystemExit(main())
