"""What every side-by-side benchmark here does around its own measurement: start the
stand-ins and the targets (each pinned, each stopped on the way out), then drive the
targets in interleaved rounds, measuring a run again when other work disturbed it."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from harness import (
    BenchError,
    Child,
    WrkResult,
    children_cpu_seconds,
    cpu_seconds,
    machine_busy_seconds,
    pinned,
    require_free_port,
    reset_stats,
    start,
    upstream_requests,
    wait_ready,
)
from pyspy import start_recording, summarize
from results import Run

#: Pause after each measured run, so connections closing do not spill into the next one.
SETTLE_S = 0.5


class Target(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def command(self) -> Sequence[str]: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> str: ...


T = TypeVar("T", bound=Target)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C does, so the caller's ExitStack stops every child."""

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def start_stack(
    running: contextlib.ExitStack,
    *,
    targets: Sequence[T],
    standins_command: Sequence[str],
    standin_urls: Sequence[str],
    pins: tuple[str | None, str | None],
    out: Path,
    ready_path: Callable[[T], str],
    check_standin: Callable[[str], None],
) -> tuple[Child, dict[str, Child]]:
    """Start the stand-ins (on the load's CPU) and every target (on its own), each stopped
    when ``running`` closes; return once all are ready. ``pins``: (load CPU, target CPU)."""
    load_cpu, target_cpu = pins
    for port in [int(url.rsplit(":", 1)[1]) for url in standin_urls] + [t.port for t in targets]:
        require_free_port(port)
    standins = start("standins", pinned(load_cpu, standins_command), {}, out)
    running.callback(standins.stop)
    children = {}
    for target in targets:
        child = start(target.name, pinned(target_cpu, target.command), target.env, out)
        running.callback(child.stop)
        children[target.name] = child
    for url in standin_urls:
        wait_ready(f"{url}/_health", standins)
        check_standin(url)
    for target in targets:
        wait_ready(target.url + ready_path(target), children[target.name])
    return standins, children


def measure_rounds(
    targets: Sequence[T],
    *,
    rounds: int,
    warmup_s: int,
    repeat_disturbed: int,
    load: Callable[[T, int], object],
    measure: Callable[[T, int], Run],
    progress: Callable[[Run], str],
) -> list[Run]:
    """Warm every target up, then measure them interleaved (A,B,C,A,B,C,...) for ``rounds``.

    On a shared machine other work comes and goes: a disturbed run is measured again (at
    most ``repeat_disturbed`` times in all, so the benchmark stays bounded) and the
    quietest attempt is kept."""
    if warmup_s:
        print(f"warming up each target for {warmup_s}s ...", flush=True)
        for target in targets:
            load(target, warmup_s)
    runs = []
    repeats_left = repeat_disturbed
    for round_no in range(1, rounds + 1):
        for target in targets:
            attempts = [measure(target, round_no)]
            print(progress(attempts[-1]), flush=True)
            while attempts[-1].disturbed and repeats_left > 0:
                repeats_left -= 1
                print("  disturbed by other work; measuring again", flush=True)
                attempts.append(measure(target, round_no))
                print(progress(attempts[-1]), flush=True)
            runs.append(min(attempts, key=lambda r: r.rest_cpu_s))
    return runs


def measured_run(
    target: str,
    round_no: int,
    *,
    connections: int,
    child: Child,
    standins: Child,
    standin_urls: Sequence[str],
    load: Callable[[], WrkResult],
    output: Path,
) -> Run:
    """One recorded run of ``load`` against ``target`` (served by ``child``): every
    process's CPU, the upstream calls made, and the load generator's output in ``output``."""
    reset_stats(standin_urls)
    cpu_before = cpu_seconds(child.pid), cpu_seconds(standins.pid), machine_busy_seconds()
    # The load generator is our only child that exits during a run: the children's rusage delta is its.
    driver_before = children_cpu_seconds()
    result = load()
    # Read as soon as the load stops, so a target still draining a backlog after the load
    # has gone is not charged beyond the measured window.
    cpu_after = cpu_seconds(child.pid), cpu_seconds(standins.pid), machine_busy_seconds()
    driver_cpu = children_cpu_seconds() - driver_before
    time.sleep(SETTLE_S)
    output.write_text(result.output)
    return Run(
        target=target,
        round=round_no,
        connections=connections,
        wrk=result,
        upstream_calls=upstream_requests(standin_urls),
        target_cpu_s=cpu_after[0] - cpu_before[0],
        standins_cpu_s=cpu_after[1] - cpu_before[1],
        wrk_cpu_s=driver_cpu,
        machine_cpu_s=cpu_after[2] - cpu_before[2],
    )


def profiled(
    target: str,
    child: Child,
    *,
    seconds: int,
    load: Callable[[int], object],
    load_cpu: str | None,
    out: Path,
    prefix: str,
    top: int = 25,
) -> str:
    """Sample ``child`` with py-spy for ``seconds`` while ``load`` drives it; returns the
    summary, also written to ``out/<prefix>-<target>.txt`` (raw stacks beside it)."""
    raw_path = out / f"{prefix}-{target}.collapsed.txt"
    print(f"profiling {target} with py-spy for {seconds:g}s ...", flush=True)
    recorder = start_recording(child.pid, seconds, raw_path, load_cpu)
    load(seconds + 2)  # outlasts the recording, which starts a little late
    _, stderr = recorder.communicate(timeout=30)
    if recorder.returncode != 0:
        raise BenchError(f"py-spy failed (exit {recorder.returncode}): {stderr.decode(errors='replace')[-500:]}")
    text = f"py-spy profile of {target}, {seconds:g}s under the same load:\n" + summarize(raw_path, top=top)
    (out / f"{prefix}-{target}.txt").write_text(text)
    return text


__all__ = ["SETTLE_S", "Target", "exit_on_sigterm", "measure_rounds", "measured_run", "profiled", "start_stack"]
