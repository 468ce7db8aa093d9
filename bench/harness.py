"""Plumbing for the load benchmarks: child processes, CPU accounting, wrk and stand-ins.

Kept apart from ``run_home.py`` so that file reads as the benchmark's plan. Standard
library only, so it runs wherever the project's venv does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what to do."""


# ---- processes -------------------------------------------------------------------------


def pinned(cpus: str | None, command: Sequence[str]) -> list[str]:
    """``command`` run on ``cpus`` (taskset syntax, e.g. "1"), or as is when None.

    taskset execs the command, so the child's pid is the pid of the server itself and
    its /proc CPU counters are the server's.
    """
    return ["taskset", "-c", cpus, *command] if cpus else list(command)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"{self.name} exited with {self.process.returncode}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL if it is still there after STOP_TIMEOUT_S."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Child:
    """Start ``command`` with ``env`` added, its output in ``log_dir/<name>.log``.

    The caller's own BFF_* and REDIS_URL variables are left out, so a benchmark measures
    the configuration it states and not whatever the shell happened to export.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BFF_") and k != "REDIS_URL"}
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env={**inherited, **env}, stdout=log, stderr=subprocess.STDOUT)
    return Child(name, process, log_path)


def require_free_port(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise BenchError(f"127.0.0.1:{port} is already in use; stop whatever serves there (another stack?)")


def wait_ready(url: str, child: Child, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Wait until ``url`` answers below 500, failing early if ``child`` dies.

    Below 500, not just 200: a readiness probe says 503 while starting, and an endpoint
    that needs X-User-Id says 401 as soon as it serves at all.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check_alive()
        with contextlib.suppress(OSError):
            if request_json("GET", url, timeout_s=1.0)[0] < 500:
                return
        time.sleep(0.1)
    raise BenchError(f"{url} ({child.name}) not ready within {timeout_s:.0f}s; log:\n{child.log_tail()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of the process now (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise BenchError(f"/proc/{pid}/status has no VmRSS line; has the process exited?")


def children_cpu_seconds() -> float:
    """User + system CPU time of this process's children that have exited and been waited for.

    Around a load generator's run (our only child that exits meanwhile), the difference is
    the load generator's CPU.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent running tasks, or stolen by the hypervisor, since boot.

    From /proc/stat. Interrupt time is left out: loopback networking runs largely in
    softirq context, which is charged to no process, so counting it would make a fast
    target look like it had company.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
    return (user + nice + system + steal) / _CLOCK_TICKS


# ---- HTTP --------------------------------------------------------------------------------


def request_json(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, timeout_s: float = 5.0
) -> tuple[int, Any]:
    """One request with the standard library; returns (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # loopback only
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


# ---- stand-ins ---------------------------------------------------------------------------


def set_latency(standin_urls: Iterable[str], latency_ms: float) -> None:
    for url in standin_urls:
        status, _ = request_json("PUT", f"{url}/_faults", {"latency_ms": latency_ms})
        if status != 200:
            raise BenchError(f"PUT {url}/_faults answered {status}; is the stand-in's fault API finished?")


def keepalive_round_trip_ms(url: str, requests: int = 20) -> float:
    """Median time of sequential requests to ``url`` over ONE keep-alive connection.

    Catches servers that answer the first request on a connection at once and every later
    one ~40 ms late (no TCP_NODELAY: Nagle meets delayed ACK), which would make every
    target latency-bound and the comparison meaningless.
    """
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=5)
    times = []
    try:
        for _ in range(requests):
            began = time.perf_counter()
            connection.request("GET", parsed.path)
            connection.getresponse().read()
            times.append(1000 * (time.perf_counter() - began))
    finally:
        connection.close()
    return statistics.median(times[1:])  # the first request also pays for the connect


def reset_stats(standin_urls: Iterable[str]) -> None:
    for url in standin_urls:
        request_json("DELETE", f"{url}/_stats")


def upstream_requests(standin_urls: Iterable[str]) -> int:
    """Requests all stand-ins counted since their stats were last reset."""
    total = 0
    for url in standin_urls:
        status, stats = request_json("GET", f"{url}/_stats")
        if status != 200 or not isinstance(stats, dict) or "requests" not in stats:
            raise BenchError(f"GET {url}/_stats answered {status} {stats!r}; expected {{'requests': N, ...}}")
        total += int(stats["requests"])
    return total


# ---- wrk ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    output: str

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok_rps(self) -> float:
        """Answers per second that were 2xx/3xx: a server failing fast can be quick."""
        return (self.requests - self.non2xx) / self.duration_s if self.duration_s else 0.0


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with apt-get (needs root) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def run_wrk(command: Sequence[str], duration_s: float) -> WrkResult:
    """Run a wrk command that uses bench/home.lua and parse its BENCH_JSON line."""
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    output = completed.stdout + completed.stderr
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {completed.returncode}):\n{output}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        non2xx=data["non2xx"],
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        output=output,
    )
