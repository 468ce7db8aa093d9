"""What one benchmark run measured, and how it is summarized and printed."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from harness import WrkResult

#: CPU (% of one core) beyond our three processes that marks a run as disturbed by
#: other work on the machine.
NOISE_PCT = 10.0
#: CPU (% of one core) from which a process counts as the run's bottleneck.
SATURATED_PCT = 90.0


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

    @property
    def disturbed(self) -> bool:
        """Whether something besides our three processes used a noticeable share of CPU."""
        return self.share(self.rest_cpu_s) > NOISE_PCT

    def share(self, cpu_s: float) -> float:
        """CPU seconds as a percentage of one core over the run."""
        return 100 * cpu_s / self.wrk.duration_s


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over a target's undisturbed rounds (all rounds if none was); error counts
    are totals over the same rounds."""

    target: str
    #: Rounds the figures come from, and how many rounds there were.
    used: int
    rounds: int
    #: No round ran without other work on the machine: the figures are suspect.
    all_disturbed: bool
    rps: float
    rps_min: float
    rps_max: float
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
    def of(cls, target: str, all_runs: Sequence[Run]) -> Summary:
        def median(values: list[float]) -> float:
            return statistics.median(values)

        undisturbed = [r for r in all_runs if not r.disturbed]
        runs = undisturbed or list(all_runs)
        return cls(
            target=target,
            used=len(runs),
            rounds=len(all_runs),
            all_disturbed=not undisturbed,
            rps=median([r.wrk.rps for r in runs]),
            rps_min=min(r.wrk.rps for r in runs),
            rps_max=max(r.wrk.rps for r in runs),
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


#: A table column: its heading, and how a summary renders in it.
Column = tuple[str, Callable[[Summary], str]]

#: The table's columns.
COLUMNS: tuple[Column, ...] = (
    ("target", lambda s: s.target),
    ("rounds used", lambda s: f"{s.used}/{s.rounds}" + (" (all disturbed)" if s.all_disturbed else "")),
    ("req/s", lambda s: f"{s.rps:,.0f}"),
    ("req/s range", lambda s: f"{s.rps_min:,.0f}-{s.rps_max:,.0f}"),
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


def table(summaries: Sequence[Summary], columns: Sequence[Column] = COLUMNS) -> list[str]:
    """The summaries as a Markdown table, one line per target."""
    lines = [
        "| " + " | ".join(heading for heading, _ in columns) + " |",
        "|---" + "|---:" * (len(columns) - 1) + "|",
    ]
    return lines + ["| " + " | ".join(cell(s) for _, cell in columns) + " |" for s in summaries]


def progress(run: Run) -> str:
    w = run.wrk
    return (
        f"round {run.round} {run.target:<20} {w.rps:8,.0f} req/s  p50 {w.p50_ms:6.2f} ms  p99 {w.p99_ms:7.2f} ms"
        f"  calls/req {run.calls_per_request:.2f}  non-2xx {w.non2xx}"
        f"  CPU% target {run.share(run.target_cpu_s):.0f} stand-ins {run.share(run.standins_cpu_s):.0f}"
        f" wrk {run.share(run.wrk_cpu_s):.0f} rest {run.share(run.rest_cpu_s):.0f}"
    )


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


def run_json(run: Run) -> dict[str, object]:
    data = asdict(run)
    data["wrk"] = {k: v for k, v in data["wrk"].items() if k != "output"}
    return data
