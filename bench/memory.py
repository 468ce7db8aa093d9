"""Does bff_mobile's memory stay within its cache bound under load over the whole catalogue?

Issue 14: the RSS of bff_mobile (as shipped, cache on) after a minute of load across every
user the stand-ins know and all their product pages stays within the documented cache
bound plus 1.2x the start-up RSS; and with the bound set below that working set, eviction
keeps it there. This runs both, side by side in one run::

    .venv/bin/python bench/memory.py                  # about 2.5 minutes
    .venv/bin/python bench/memory.py --duration 20    # a quick look

Two bff_mobile processes start with the stand-ins (2 ms added latency), the target alone
on CPU 1 as run_home.py places it: ``default`` with ``cache.memory_entries`` as shipped,
and ``small`` with it set to ``--small-bound`` (below the working set). Each in turn gets
``--duration`` seconds of wrk ``-t1 -c32`` with ``bench/memory.lua``: every product page
``/v1/products/1..5000`` and every user's ``/v1/home`` (users 1..1000 with their ES256
tokens), round and round. RSS (``/proc``) and the entries held (``/admin/cache``
``local_entries``) are sampled every second.

The bound is documented in entries (docs/sre-guide.md, ``cache.memory_entries``), not
bytes, so its bytes are worked out from the run: the default process's RSS growth per
entry held (an upper bound on one entry's cost: it also carries whatever else grew).
Each process passes when its entries held stay within its bound and

    end RSS <= 1.2 x start-up RSS + bound x bytes per entry (+ cache.screen_bytes)

(the screen cache, where the tree has one, holds whole rendered screens under a bound of
its own, in bytes; the second process sets it below the working set too).

For ``default`` (the working set fits) the second condition follows from the first; what
tells there is whether RSS stops growing once the entries do, so the report also gives
the growth over the last third of the run. ``small`` is the real test of eviction.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import BenchError, Child, WrkResult, ensure_wrk, pinned, request_json, rss_bytes, run_wrk
from results import Run, machine_facts
from rounds import SETTLE_S, exit_on_sigterm, measured_run
from run_home import PYTHON, Target, bff_mobile, start_home_stack, write_tokens

from shared.settings import CacheSettings
from upstreams.accounts.data import USER_COUNT
from upstreams.catalog.data import PRODUCT_COUNT

BENCH_DIR = Path(__file__).resolve().parent
ADMIN_TOKEN = "bench-memory-admin"  # loopback only, for /admin/cache
#: Issue 14: RSS may grow by this factor of the start-up RSS beyond the cache's bound.
RSS_ALLOWANCE = 1.2
DEFAULT_BOUND = CacheSettings().memory_entries
#: The screen cache (whole rendered screens), bounded in bytes apart from the entries,
#: when this tree has one.
DEFAULT_SCREEN_BOUND: int | None = getattr(CacheSettings(), "screen_bytes", None)
DEFAULT_SMALL_SCREEN_BYTES = 2 * 2**20
#: Below the working set of the load (about 30,000 entries: five per product page, five
#: per home screen), so entries must be evicted.
DEFAULT_SMALL_BOUND = 5_000
SAMPLE_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class CacheState:
    """What ``/admin/cache`` says the process holds (``None``: it did not say)."""

    entries: int | None
    screen_bytes: int | None


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    rss: int
    entries: int | None
    screen_bytes: int | None


@dataclass
class Phase:
    """One bff_mobile process under the load: its bound and what it held."""

    name: str
    target: Target
    bound: int
    #: cache.screen_bytes, when this tree has a screen cache (its own bound, in bytes).
    screen_bound: int | None
    start_rss: int = 0
    samples: list[Sample] = field(default_factory=list)
    end_rss: int = 0
    end: CacheState = CacheState(None, None)
    run: Run | None = None

    @property
    def end_entries(self) -> int | None:
        return self.end.entries

    @property
    def bound_bytes_beyond_entries(self) -> int:
        return self.screen_bound or 0

    @property
    def max_rss(self) -> int:
        return max([self.end_rss, *(s.rss for s in self.samples)])

    @property
    def max_entries(self) -> int | None:
        held = [s.entries for s in self.samples if s.entries is not None]
        if self.end_entries is not None:
            held.append(self.end_entries)
        return max(held) if held else None

    def last_third(self) -> tuple[int, int]:
        """RSS growth and entries growth over the last third of the samples."""
        if len(self.samples) < 3:
            return 0, 0
        first, last = self.samples[len(self.samples) * 2 // 3], self.samples[-1]
        return last.rss - first.rss, (last.entries or 0) - (first.entries or 0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per process (default 60)")
    parser.add_argument(
        "--small-bound",
        type=int,
        default=DEFAULT_SMALL_BOUND,
        help=f"cache.memory_entries of the second process (default {DEFAULT_SMALL_BOUND:,})",
    )
    parser.add_argument(
        "--small-screen-bytes",
        type=int,
        default=DEFAULT_SMALL_SCREEN_BYTES,
        help="cache.screen_bytes of the second process, where the screen cache exists (default 2 MiB)",
    )
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=["default", "small"],
        default=["default", "small"],
        help="which processes to load (default both; small alone needs --bytes-per-entry)",
    )
    parser.add_argument(
        "--bytes-per-entry", type=float, help="an entry's cost, instead of the default process's measure"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    parser.add_argument("--latency-ms", type=float, default=2, help="latency added by every stand-in (default 2)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out" / "memory", help="logs and raw results")
    args = parser.parse_args(argv)
    if args.duration < 3 or args.small_bound < 1:
        parser.error("--duration must be at least 3 s and --small-bound at least 1")
    if "default" not in args.phases and args.bytes_per_entry is None:
        parser.error("without the default phase, give --bytes-per-entry (from an earlier run)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    admin = {"BFF_ADMIN__TOKEN": ADMIN_TOKEN}
    phases = [
        Phase("default", bff_mobile("bff_mobile[default bound]", 8080, **admin), DEFAULT_BOUND, DEFAULT_SCREEN_BOUND),
        Phase(
            "small",
            bff_mobile("bff_mobile[small bound]", 8082, **small_bounds(args), **admin),
            args.small_bound,
            args.small_screen_bytes if DEFAULT_SCREEN_BOUND is not None else None,
        ),
    ]
    phases = [phase for phase in phases if phase.name in args.phases]
    load_cpu, target_cpu = "0", "1"
    wrk = ensure_wrk()

    exit_on_sigterm()
    try:
        with contextlib.ExitStack() as running:
            standins, children, standin_urls = start_home_stack(
                running,
                [phase.target for phase in phases],
                pins=(load_cpu, target_cpu),
                out=args.out,
                latency_ms=args.latency_ms,
            )
            tokens = args.out / "tokens.txt"
            write_tokens(tokens)
            for phase in phases:
                phase.start_rss = rss_bytes(children[phase.target.name].pid)
            for phase in phases:
                load_phase(args, wrk, load_cpu, phase, children[phase.target.name], standins, standin_urls, tokens)
                print(phase_line(phase), flush=True)
            for child in [standins, *children.values()]:
                child.check_alive()
    except BenchError as exc:
        print(f"memory: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # urllib's URLError too: a stand-in or target stopped answering
        print(f"memory: {exc}; a stand-in or target stopped answering, see the logs in {args.out}", file=sys.stderr)
        return 1

    report, passed = render_report(args, phases)
    print("\n" + report)
    (args.out / "memory-latest.md").write_text(report)
    raw = {
        "machine": machine_facts(),
        "phases": [
            {
                "name": p.name,
                "bound": p.bound,
                "start_rss": p.start_rss,
                "end_rss": p.end_rss,
                "end_entries": p.end_entries,
                "samples": [asdict(s) for s in p.samples],
            }
            for p in phases
        ],
    }
    (args.out / "memory-latest.json").write_text(json.dumps(raw, indent=2))
    return 0 if passed else 2


def small_bounds(args: argparse.Namespace) -> dict[str, str]:
    """The second process's overrides: every cache bound below the load's working set."""
    bounds = {"BFF_CACHE__MEMORY_ENTRIES": str(args.small_bound)}
    if DEFAULT_SCREEN_BOUND is not None:
        bounds["BFF_CACHE__SCREEN_BYTES"] = str(args.small_screen_bytes)
    return bounds


def cache_state(target: Target) -> CacheState:
    """``local_entries`` of the in-process cache and the screen cache's ``bytes``, from the
    admin listener (port + 1000)."""
    url = f"http://127.0.0.1:{target.port + 1000}/admin/cache"
    with contextlib.suppress(OSError):
        status, body = request_json("GET", url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout_s=2)
        if status == 200 and isinstance(body, dict):
            entries = body.get("local_entries")
            screens = body.get("screens")
            screen_bytes = screens.get("bytes") if isinstance(screens, dict) else None
            return CacheState(
                entries if isinstance(entries, int) else None,
                screen_bytes if isinstance(screen_bytes, int) else None,
            )
    return CacheState(None, None)


def load_phase(
    args: argparse.Namespace,
    wrk: str,
    load_cpu: str,
    phase: Phase,
    child: Child,
    standins: Child,
    standin_urls: Sequence[str],
    tokens: Path,
) -> None:
    """``args.duration`` seconds of memory.lua against ``phase``'s process, sampled meanwhile."""
    print(f"loading {phase.target.name} (bound {phase.bound:,} entries) for {args.duration}s ...", flush=True)
    stop = threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not stop.wait(SAMPLE_EVERY_S):
            state = cache_state(phase.target)
            at = time.monotonic() - began
            phase.samples.append(Sample(at, rss_bytes(child.pid), state.entries, state.screen_bytes))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    command = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "10s", "--latency"]
    command += ["-s", str(BENCH_DIR / "memory.lua"), phase.target.url, "--", str(tokens), str(PRODUCT_COUNT)]

    def load() -> WrkResult:
        sampler.start()
        try:
            return run_wrk(pinned(load_cpu, command), args.duration)
        finally:
            stop.set()
            sampler.join()

    phase.run = measured_run(
        phase.target.name,
        1,
        connections=args.connections,
        child=child,
        standins=standins,
        standin_urls=standin_urls,
        load=load,
        output=args.out / f"wrk-{phase.name}.txt",
    )
    time.sleep(SETTLE_S)
    phase.end_rss = rss_bytes(child.pid)
    phase.end = cache_state(phase.target)


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def phase_line(phase: Phase) -> str:
    assert phase.run is not None
    w = phase.run.wrk
    return (
        f"{phase.name}: {w.requests:,} requests ({w.rps:,.0f} req/s, non-2xx {w.non2xx}, errors {w.socket_errors});"
        f" RSS {mib(phase.start_rss)} -> {mib(phase.end_rss)} MiB; entries held {phase.end_entries}"
        f" (bound {phase.bound:,}); rest CPU {phase.run.share(phase.run.rest_cpu_s):.0f} %"
    )


def render_report(args: argparse.Namespace, phases: Sequence[Phase]) -> tuple[str, bool]:
    """The table and verdicts; whether every phase passed."""
    facts = machine_facts()
    default = next((phase for phase in phases if phase.name == "default"), None)
    held = (default.end_entries or 0) if default is not None else 0
    if args.bytes_per_entry is not None:
        per_entry = args.bytes_per_entry
    elif default is not None and held:
        # What the entries cost: the default process's growth, less the screens it held.
        per_entry = (default.end_rss - default.start_rss - (default.end.screen_bytes or 0)) / held
    else:  # the admin API never said how many entries were held
        per_entry = float("nan")
    lines = [
        f"command: {' '.join([Path(PYTHON).name, 'bench/memory.py', *(sys.argv[1:])])}",
        f"machine: {facts['nproc']} CPUs, {facts['cpu_model']}; Python {facts['python']}",
        f"load: wrk -t1 -c{args.connections} -d{args.duration}s -s bench/memory.lua: /v1/products/1..{PRODUCT_COUNT}"
        f" and /v1/home for users 1..{USER_COUNT} (ES256 tokens), cycled; stand-in latency {args.latency_ms:g} ms;"
        " wrk and stand-ins on CPU 0, targets on CPU 1",
        f"bytes per entry (default process: RSS growth less screen bytes held, / entries held): {per_entry:,.0f}",
        "limit = 1.2 x start RSS + cache.memory_entries x bytes per entry"
        + (" + cache.screen_bytes" if DEFAULT_SCREEN_BOUND is not None else ""),
        "",
        "| process | bound: entries (screen MiB) | requests | req/s | non-2xx | start RSS MiB | end RSS MiB"
        " | max RSS MiB | entries held (max) | screen MiB held | 1.2x start MiB | limit MiB"
        " | RSS growth in last third MiB (entries) | rest CPU % | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    passed = True
    verdicts = []
    for phase in phases:
        assert phase.run is not None
        w = phase.run.wrk
        allowance = RSS_ALLOWANCE * phase.start_rss
        limit = allowance + phase.bound * per_entry + phase.bound_bytes_beyond_entries
        most = phase.max_entries
        within_bound = most is not None and most <= phase.bound
        within_rss = phase.end_rss <= limit
        ok = within_bound and within_rss
        passed = passed and ok
        rss_growth, entries_growth = phase.last_third()
        verdict = "pass" if ok else "FAIL"
        if phase.run.disturbed:
            verdict += " (disturbed)"
        screens = f" ({mib(phase.screen_bound)})" if phase.screen_bound is not None else ""
        screen_held = mib(phase.end.screen_bytes) if phase.end.screen_bytes is not None else "-"
        lines.append(
            f"| {phase.target.name} | {phase.bound:,}{screens} | {w.requests:,} | {w.rps:,.0f} | {w.non2xx}"
            f" | {mib(phase.start_rss)} | {mib(phase.end_rss)} | {mib(phase.max_rss)}"
            f" | {phase.end_entries} ({most}) | {screen_held} | {mib(allowance)} | {mib(limit)}"
            f" | {mib(rss_growth)} ({entries_growth:+,}) | {phase.run.share(phase.run.rest_cpu_s):.0f} | {verdict} |"
        )
        if w.non2xx or w.socket_errors:
            verdicts.append(
                f"{phase.name}: {w.non2xx} non-2xx answers and {w.socket_errors} socket errors under load"
                f" (not a memory verdict; see {args.out}/{phase.target.name}.log)"
            )
        if not within_bound:
            verdicts.append(f"{phase.name}: entries held ({most}) exceed the bound ({phase.bound:,}): not enforced")
        if not within_rss:
            verdicts.append(
                f"{phase.name}: end RSS {mib(phase.end_rss)} MiB is past the limit {mib(limit)} MiB"
                f" ({RSS_ALLOWANCE}x start {mib(phase.start_rss)} + {phase.bound:,} entries x {per_entry:,.0f} B"
                + (f" + {mib(phase.bound_bytes_beyond_entries)} screen" if phase.screen_bound is not None else "")
                + ")"
            )
    if held and held < 2 * args.small_bound:
        verdicts.append(
            f"NOTE: the default process held only {held:,} entries, not well above --small-bound"
            f" {args.small_bound:,}: the small bound barely tests eviction; run longer or lower it"
        )
    lines += ["", *verdicts, f"memory bound: {'met' if passed else 'NOT met'}"]
    return "\n".join(lines) + "\n", passed


if __name__ == "__main__":
    sys.exit(main())
