"""Side-by-side load benchmark of ``GET /v1/home`` (see bench/README.md, bench/RESULTS.md).

Starts the upstream stand-ins with a fixed added latency, then five servers, one worker
each: bff_mobile as shipped (in-process response cache, aiohttp transport); bff_mobile
with the cache off (the same upstream calls as the ceiling: the acceptance comparison);
the same with the httpx transport; a hand-written aiohttp aggregator (the ceiling); and
a bare ASGI endpoint (the floor). wrk drives each in turn with identical settings,
interleaved (A,B,C,D,E,A,B,...), and the table reports the median of the rounds. Every
process started here is stopped on the way out, error or not::

    .venv/bin/python bench/run_home.py                  # ~3.5 minutes
    .venv/bin/python bench/run_home.py --rounds 2 --duration 15 --latency-ms 5

CPU pinning (2-core machine): by default wrk and the stand-ins share CPU 0 and the
target under test has CPU 1 to itself (the idle targets sleep). Every target thus gets
the same one core, and the table shows each process's CPU use so a reader can tell
whether the target or the stand-ins were the bottleneck. ``--pin none`` leaves
placement to the kernel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import FrameType

from harness import (
    BenchError,
    Child,
    WrkResult,
    cpu_seconds,
    ensure_wrk,
    keepalive_round_trip_ms,
    machine_busy_seconds,
    pinned,
    request_json,
    require_free_port,
    reset_stats,
    run_wrk,
    set_latency,
    start,
    upstream_requests,
    wait_ready,
)
from pyspy import start_recording, summarize

from upstreams.registry import registered_upstreams

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PYTHON = sys.executable
AS_SHIPPED = "bff_mobile"
#: Like for like with the ceiling (same upstream calls): the acceptance comparison.
REFERENCE = "bff_mobile[no-cache]"
CEILING = "aiohttp_aggregator"
HTTPX_VARIANT = "bff_mobile[no-cache,httpx]"
ACCEPTANCE_RATIO = 0.5
#: Users whose /v1/home every home target must answer identically before any load.
CHECK_USERS = (1, 2, 500, 1000)
#: A stand-in answering its health check slower than this on a kept-alive connection
#: would make every target wait on it rather than on itself.
MAX_STANDIN_ROUND_TRIP_MS = 5.0
#: CPU (% of one core) beyond our three processes that marks a run as disturbed.
NOISE_PCT = 10.0
#: Lets in-flight fan-outs finish after wrk stops, before upstream counters are read.
SETTLE_S = 0.5


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    port: int
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/v1/home"
    #: Whether it serves the real /v1/home fan-out (the bare floor does not).
    fans_out: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def bff_mobile(name: str, port: int, **env: str) -> Target:
    """``bff serve mobile`` on ``port``, configured through BFF_* variables."""
    command = (PYTHON, "-m", "shared.cli", "serve", "mobile")
    return Target(name, port, command, {"BFF_SERVER__PORT": str(port), **env}, ready_path="/readyz")


def no_cache() -> dict[str, str]:
    """Overrides turning the response cache off for every upstream.

    The aggregator caches nothing, and with TTLs of 30-300 s even 1,000 rotating users
    come round again within a run, so only without the cache do both sides make the
    same upstream calls.
    """
    return {f"BFF_UPSTREAMS__{spec.name.upper()}__POLICY__CACHE__TTL": "0" for spec in registered_upstreams()}


def all_targets() -> tuple[Target, ...]:
    """Every target, in the order each round drives them."""
    return (
        bff_mobile(AS_SHIPPED, 8080, BFF_HTTP__TRANSPORT="aiohttp"),
        bff_mobile(REFERENCE, 8081, BFF_HTTP__TRANSPORT="aiohttp", **no_cache()),
        bff_mobile(HTTPX_VARIANT, 8082, BFF_HTTP__TRANSPORT="httpx", **no_cache()),
        Target(CEILING, 8090, (PYTHON, str(BENCH_DIR / "aiohttp_aggregator.py"), "8090")),
        Target("bare_asgi", 8099, (PYTHON, str(BENCH_DIR / "bare_asgi.py"), "8099"), fans_out=False),
    )


@dataclass(frozen=True, slots=True)
class Run:
    """One wrk run against one target, with what the processes spent meanwhile."""

    target: str
    round: int
    connections: int
    wrk: WrkResult
    upstream_calls: int
    target_cpu_s: float
    standins_cpu_s: float
    wrk_cpu_s: float
    #: Everything the machine spent meanwhile (our processes, kernel, anyone else's).
    machine_cpu_s: float

    @property
    def rest_cpu_s(self) -> float:
        """Machine CPU that none of the three processes was charged with: noise to watch."""
        return max(0.0, self.machine_cpu_s - self.target_cpu_s - self.standins_cpu_s - self.wrk_cpu_s)

    @property
    def calls_per_request(self) -> float:
        """Upstream calls per client request.

        wrk counts only answered requests, but when it stops each of its connections
        still has one request in flight, whose upstream calls the servers finish making
        (and the stand-ins count) during the settle time; those count as requests too.
        """
        return self.upstream_calls / (self.wrk.requests + self.connections)

    def share(self, cpu_s: float) -> float:
        """CPU seconds as a percentage of one core over the run."""
        return 100 * cpu_s / self.wrk.duration_s


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over a target's rounds; error counts are totals."""

    target: str
    rps: float
    ok_rps: float
    p50_ms: float
    p99_ms: float
    upstream_calls_per_request: float
    non2xx: int
    socket_errors: int
    cpu_ms_per_request: float
    target_cpu_pct: float
    standins_cpu_pct: float
    wrk_cpu_pct: float
    rest_cpu_pct: float

    @classmethod
    def of(cls, target: str, runs: Sequence[Run]) -> Summary:
        def median(values: list[float]) -> float:
            return statistics.median(values)

        return cls(
            target=target,
            rps=median([r.wrk.rps for r in runs]),
            ok_rps=median([r.wrk.ok_rps for r in runs]),
            p50_ms=median([r.wrk.p50_ms for r in runs]),
            p99_ms=median([r.wrk.p99_ms for r in runs]),
            upstream_calls_per_request=median([r.calls_per_request for r in runs]),
            non2xx=sum(r.wrk.non2xx for r in runs),
            socket_errors=sum(r.wrk.socket_errors for r in runs),
            cpu_ms_per_request=median([1000 * r.target_cpu_s / max(r.wrk.requests, 1) for r in runs]),
            target_cpu_pct=median([r.share(r.target_cpu_s) for r in runs]),
            standins_cpu_pct=median([r.share(r.standins_cpu_s) for r in runs]),
            wrk_cpu_pct=median([r.share(r.wrk_cpu_s) for r in runs]),
            rest_cpu_pct=median([r.share(r.rest_cpu_s) for r in runs]),
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [t.name for t in all_targets()]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded load per target first")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    parser.add_argument("--latency-ms", type=float, default=2, help="latency added by every stand-in (default 2)")
    parser.add_argument(
        "--pin", choices=["split", "none"], default="split", help="split: wrk+stand-ins on CPU 0, target on CPU 1"
    )
    parser.add_argument(
        "--standins-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="uvloop: bench/standins.py (default); asyncio: plain `bff standins`",
    )
    parser.add_argument("--targets", nargs="+", choices=names, default=names, metavar="NAME")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=names,
        metavar="NAME",
        help="after the rounds, sample NAME with py-spy under the same load (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="logs and raw results (default bench/out)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0 (wrk takes whole seconds)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    targets = [t for t in all_targets() if t.name in args.targets]
    load_cpu, target_cpu = ("0", "1") if args.pin == "split" else (None, None)
    standin_urls = sorted({url for spec in registered_upstreams() for url in spec.local_regions.values()})
    wrk = ensure_wrk()

    # SIGTERM unwinds like Ctrl-C does, so the ExitStack below stops every child.
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for port in [int(url.rsplit(":", 1)[1]) for url in standin_urls] + [t.port for t in targets]:
            require_free_port(port)
        with contextlib.ExitStack() as running:
            standins = start("standins", pinned(load_cpu, standins_command(args.standins_loop)), {}, args.out)
            running.callback(standins.stop)
            children = {}
            for target in targets:
                child = start(target.name, pinned(target_cpu, target.command), target.env, args.out)
                running.callback(child.stop)
                children[target.name] = child
            for url in standin_urls:
                wait_ready(f"{url}/_health", standins)
                check_round_trip(url)
            for target in targets:
                wait_ready(target.url + target.ready_path, children[target.name])
            set_latency(standin_urls, args.latency_ms)
            check_same_answers([t for t in targets if t.fans_out])

            bench = Bench(args, wrk, load_cpu, standins, children, standin_urls)
            if args.warmup:
                print(f"warming up each target for {args.warmup}s ...", flush=True)
                for target in targets:
                    bench.load(target, args.warmup)
            runs = []
            for round_no in range(1, args.rounds + 1):
                for target in targets:
                    run = bench.measure(target, round_no)
                    runs.append(run)
                    print(_progress(run), flush=True)
            for child in [standins, *children.values()]:
                child.check_alive()
            profiles = [bench.profile(target) for target in targets if target.name in args.profile]
    except BenchError as exc:
        print(f"run_home: {exc}", file=sys.stderr)
        return 1

    summaries = [Summary.of(t.name, [r for r in runs if r.target == t.name]) for t in targets]
    report = render_report(args, summaries, runs)
    print("\n" + report)
    for text in profiles:
        print(text)
    (args.out / "home-latest.md").write_text(report)
    raw = {"settings": _settings(args), "machine": machine_facts(), "runs": [_run_json(r) for r in runs]}
    (args.out / "home-latest.json").write_text(json.dumps(raw, indent=2))
    return 0


@dataclass(frozen=True, slots=True)
class Bench:
    """The running setup: what drives the load, and the processes it measures."""

    args: argparse.Namespace
    wrk: str
    load_cpu: str | None
    standins: Child
    children: Mapping[str, Child]
    standin_urls: Sequence[str]

    def load(self, target: Target, seconds: int) -> WrkResult:
        args = self.args
        command = [self.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--timeout", "10s"]
        command += ["--latency", "-s", str(BENCH_DIR / "home.lua"), target.url + "/v1/home"]
        return run_wrk(pinned(self.load_cpu, command), seconds)

    def measure(self, target: Target, round_no: int) -> Run:
        """One recorded wrk run, with every process's CPU and the upstream calls made."""
        child, standins = self.children[target.name], self.standins
        reset_stats(self.standin_urls)
        cpu_before = cpu_seconds(child.pid), cpu_seconds(standins.pid), machine_busy_seconds()
        # wrk is our only child that exits during a run, so the children's rusage delta is wrk's.
        wrk_before = _children_cpu()
        result = self.load(target, self.args.duration)
        # Read as soon as the load stops, so a target still draining a backlog after wrk
        # has gone is not charged beyond the measured window.
        cpu_after = cpu_seconds(child.pid), cpu_seconds(standins.pid), machine_busy_seconds()
        wrk_cpu = _children_cpu() - wrk_before
        time.sleep(SETTLE_S)
        (self.args.out / f"wrk-{target.name}-{round_no}.txt").write_text(result.output)
        return Run(
            target=target.name,
            round=round_no,
            connections=self.args.connections,
            wrk=result,
            upstream_calls=upstream_requests(self.standin_urls),
            target_cpu_s=cpu_after[0] - cpu_before[0],
            standins_cpu_s=cpu_after[1] - cpu_before[1],
            wrk_cpu_s=wrk_cpu,
            machine_cpu_s=cpu_after[2] - cpu_before[2],
        )

    def profile(self, target: Target) -> str:
        """Sample ``target`` with py-spy under the same load; returns the summary."""
        seconds, out = self.args.duration, self.args.out
        raw_path = out / f"profile-{target.name}.collapsed.txt"
        print(f"profiling {target.name} with py-spy for {seconds:g}s ...", flush=True)
        recorder = start_recording(self.children[target.name].pid, seconds, raw_path, self.load_cpu)
        self.load(target, seconds + 2)  # outlasts the recording, which starts a little late
        _, stderr = recorder.communicate(timeout=30)
        if recorder.returncode != 0:
            raise BenchError(f"py-spy failed (exit {recorder.returncode}): {stderr.decode(errors='replace')[-500:]}")
        text = f"py-spy profile of {target.name}, {seconds:g}s under the same load:\n" + summarize(raw_path)
        (out / f"profile-{target.name}.txt").write_text(text)
        return text


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def standins_command(loop: str) -> list[str]:
    if loop == "uvloop":
        return [PYTHON, str(BENCH_DIR / "standins.py")]
    return [PYTHON, "-m", "shared.cli", "standins"]


def check_round_trip(standin_url: str) -> None:
    """Refuse to measure against a stand-in that is slow on kept-alive connections."""
    round_trip_ms = keepalive_round_trip_ms(f"{standin_url}/_health")
    if round_trip_ms > MAX_STANDIN_ROUND_TRIP_MS:
        raise BenchError(
            f"{standin_url} answers kept-alive requests in {round_trip_ms:.1f} ms, over the"
            f" {MAX_STANDIN_ROUND_TRIP_MS} ms limit; ~40 ms means TCP_NODELAY is off on its connections"
            " (try --standins-loop uvloop)"
        )


def check_same_answers(targets: Sequence[Target]) -> None:
    """Refuse to compare servers that do not answer the same thing."""
    for uid in CHECK_USERS:
        answers = {}
        for target in targets:
            status, body = request_json("GET", target.url + "/v1/home", headers={"X-User-Id": str(uid)})
            if status != 200:
                raise BenchError(f"{target.name} answered {status} to /v1/home for user {uid}: {body!r}")
            answers[target.name] = body
        reference_name, reference = next(iter(answers.items()))
        for name, body in answers.items():
            difference = first_difference(reference, body)
            if difference:
                raise BenchError(
                    f"{name} and {reference_name} answer /v1/home for user {uid} differently at {difference}"
                )


def first_difference(a: object, b: object, path: str = "$") -> str | None:
    """Where two JSON values first differ (a JSONPath-ish string), or None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b:
                return f"{path}.{key} (present on one side only)"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (lengths {len(a)} and {len(b)})"
        for index, (left, right) in enumerate(zip(a, b, strict=True)):
            found = first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b and type(a) is type(b) else f"{path} ({a!r} vs {b!r})"


#: The table's columns: heading and how a summary renders in it.
COLUMNS: tuple[tuple[str, Callable[[Summary], str]], ...] = (
    ("target", lambda s: s.target),
    ("req/s", lambda s: f"{s.rps:,.0f}"),
    ("2xx req/s", lambda s: f"{s.ok_rps:,.0f}"),
    ("p50 ms", lambda s: f"{s.p50_ms:.2f}"),
    ("p99 ms", lambda s: f"{s.p99_ms:.2f}"),
    ("upstream calls/req", lambda s: f"{s.upstream_calls_per_request:.2f}"),
    ("non-2xx", lambda s: str(s.non2xx)),
    ("socket errors", lambda s: str(s.socket_errors)),
    ("target CPU ms/req", lambda s: f"{s.cpu_ms_per_request:.3f}"),
    ("target CPU %", lambda s: f"{s.target_cpu_pct:.0f}"),
    ("stand-ins CPU %", lambda s: f"{s.standins_cpu_pct:.0f}"),
    ("wrk CPU %", lambda s: f"{s.wrk_cpu_pct:.0f}"),
    ("rest CPU %", lambda s: f"{s.rest_cpu_pct:.0f}"),
)


def render_report(args: argparse.Namespace, summaries: Sequence[Summary], runs: Sequence[Run]) -> str:
    facts = machine_facts()
    lines = [
        f"command: {' '.join([Path(PYTHON).name, 'bench/run_home.py', *(sys.argv[1:])])}",
        f"machine: {facts['nproc']} CPUs, {facts['cpu_model']}; Python {facts['python']}; {facts['versions']}",
        f"settings: {json.dumps(_settings(args))}",
        "",
        "| " + " | ".join(heading for heading, _ in COLUMNS) + " |",
        "|---" + "|---:" * (len(COLUMNS) - 1) + "|",
    ]
    lines += ["| " + " | ".join(cell(s) for _, cell in COLUMNS) + " |" for s in summaries]
    by_name = {s.target: s for s in summaries}
    lines.append("")
    if CEILING in by_name and by_name[CEILING].ok_rps:
        ceiling = by_name[CEILING]
        for name in (REFERENCE, AS_SHIPPED):
            if name not in by_name:
                continue
            ours = by_name[name]
            ratio = ours.ok_rps / ceiling.ok_rps
            line = f"{name} / {CEILING} 2xx throughput: {ratio:.2f}x"
            if name == REFERENCE:
                verdict = "met" if ratio >= ACCEPTANCE_RATIO else "NOT met"
                if any(r.share(r.rest_cpu_s) > NOISE_PCT for r in runs if r.target in (REFERENCE, CEILING)):
                    verdict += ", but UNRELIABLE: other work shared the CPU, see the warning below"
                line += f" (acceptance bar >= {ACCEPTANCE_RATIO}x: {verdict})"
            if ceiling.cpu_ms_per_request:
                line += f"; CPU per request {ours.cpu_ms_per_request / ceiling.cpu_ms_per_request:.2f}x the ceiling's"
            lines.append(line)
    if REFERENCE in by_name and HTTPX_VARIANT in by_name and by_name[REFERENCE].ok_rps:
        ratio = by_name[HTTPX_VARIANT].ok_rps / by_name[REFERENCE].ok_rps
        lines.append(f"transport: {HTTPX_VARIANT} / {REFERENCE} (aiohttp) 2xx throughput: {ratio:.2f}x")
    noisy = [f"{r.target} #{r.round} ({r.share(r.rest_cpu_s):.0f}%)" for r in runs if r.share(r.rest_cpu_s) > NOISE_PCT]
    if noisy:
        lines.append(f"WARNING: something else used the CPU during {', '.join(noisy)}; rerun on a quiet machine")
    return "\n".join(lines) + "\n"


def _progress(run: Run) -> str:
    w = run.wrk
    return (
        f"round {run.round} {run.target:<20} {w.rps:8,.0f} req/s  p50 {w.p50_ms:6.2f} ms  p99 {w.p99_ms:7.2f} ms"
        f"  calls/req {run.calls_per_request:.2f}  non-2xx {w.non2xx}"
        f"  CPU% target {run.share(run.target_cpu_s):.0f} stand-ins {run.share(run.standins_cpu_s):.0f}"
        f" wrk {run.share(run.wrk_cpu_s):.0f} rest {run.share(run.rest_cpu_s):.0f}"
    )


def _settings(args: argparse.Namespace) -> dict[str, object]:
    return {
        "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration:g}s --timeout 10s --latency -s bench/home.lua",
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "standin_latency_ms": args.latency_ms,
        "pin": "wrk+stand-ins on CPU 0, target on CPU 1" if args.pin == "split" else "none",
        "standins_loop": args.standins_loop,
    }


def machine_facts() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor())
    packages = ("aiohttp", "uvicorn", "starlette", "httpx", "pydantic", "uvloop", "orjson")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in packages) + f"; {wrk_version.split(' Copyright')[0]}",
    }


def _run_json(run: Run) -> dict[str, object]:
    data = asdict(run)
    data["wrk"] = {k: v for k, v in data["wrk"].items() if k != "output"}
    return data


if __name__ == "__main__":
    sys.exit(main())
