"""Canary rollouts through the local gateway, gated on measured error rate and p99.

At each step the canary gets a share of new requests (5 → 25 → 50 → 100 by default).
After ``step_seconds`` both instances' /metrics are scraped and compared over the step:

* *fail* if the canary's 5xx rate exceeds the stable's by more than
  ``max_error_rate_increase``, or its p99 exceeds ``max_p99_ratio`` × the stable's (when
  either is above ``p99_floor``) — the rollout is rolled back at once;
* *inconclusive* if the canary served fewer than ``min_requests`` in the step — the step
  is extended (up to ``max_extensions`` times), never passed or failed on no data;
* *pass* otherwise — on to the next step. Passing 100 promotes the canary.

Weights change through HAProxy's runtime API, so no connection is dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from shared.gateway import Gateway, Route

log = logging.getLogger("bff.rollout")
Decision = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    steps: Sequence[int] = (5, 25, 50, 100)
    step_seconds: float = 10.0
    min_requests: int = 50
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 1.5
    p99_floor: float = 0.05
    max_extensions: int = 3


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative request counts and latency buckets of one instance at one moment."""

    requests: float
    errors: float
    buckets: dict[float, float]

    def since(self, earlier: Sample) -> Sample:
        return Sample(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            {le: count - earlier.buckets.get(le, 0.0) for le, count in self.buckets.items()},
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float:
        """The upper bound of the bucket holding the 99th percentile (inf if beyond all)."""
        total = self.buckets.get(float("inf"), 0.0)
        if total <= 0:
            return 0.0
        for le in sorted(self.buckets):
            if self.buckets[le] >= 0.99 * total:
                return le
        return float("inf")


def parse_metrics(text: str) -> Sample:
    """Request totals and duration buckets from /metrics (probes and /metrics excluded)."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            route = sample.labels.get("route", "")
            if route in ("/livez", "/readyz", "/metrics"):
                continue
            if sample.name == "bff_http_requests_total":
                requests += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    errors += sample.value
            elif sample.name == "bff_http_request_duration_seconds_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return Sample(requests, errors, buckets)


def scrape(port: int) -> Sample:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


def judge(canary: Sample, stable: Sample, policy: RolloutPolicy) -> tuple[Decision, str]:
    if canary.requests < policy.min_requests:
        return "inconclusive", f"canary served {canary.requests:.0f} < {policy.min_requests} requests"
    if canary.error_rate > stable.error_rate + policy.max_error_rate_increase:
        return "fail", f"canary 5xx rate {canary.error_rate:.2%} vs stable {stable.error_rate:.2%}"
    worst = max(canary.p99, stable.p99)
    if worst > policy.p99_floor and stable.p99 > 0 and canary.p99 > policy.max_p99_ratio * stable.p99:
        return "fail", f"canary p99 {canary.p99:.3f}s vs stable {stable.p99:.3f}s"
    return "pass", f"canary 5xx {canary.error_rate:.2%}, p99 {canary.p99:.3f}s over {canary.requests:.0f} requests"


@dataclass(slots=True)
class Instance:
    """One ``bff serve`` child process on a given port and track."""

    process: str
    port: int
    config: Path
    track: str
    #: The gateway server slot this instance fills: ``stable`` or ``canary``.
    slot: str = "stable"
    env: dict[str, str] = field(default_factory=dict)
    child: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        # Stable and canary run side by side on one host: their admin listeners take
        # ephemeral ports rather than both wanting the process's default admin.port.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
        # The local gateway reaches both from 127.0.0.1 and writes X-Forwarded-For.
        env |= {"BFF_ADMIN__PORT": "0", "BFF_SERVER__TRUSTED_PROXIES": "[127.0.0.1/32]"} | self.env
        env |= {"BFF_SERVER__PORT": str(self.port), "BFF_TRACK": self.track}
        self.child = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", self.process, "--config", str(self.config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child.poll() is not None:
                raise RuntimeError(f"{self.process} on :{self.port} exited with {self.child.returncode} at start")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.process} on :{self.port} not ready in {timeout:.0f}s")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (drain, finish in flight), wait; the exit code."""
        if self.child is None:
            return 0
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)
        try:
            return self.child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            return self.child.wait()


@dataclass(slots=True)
class RolloutResult:
    promoted: bool
    steps: list[tuple[int, Decision, str]]


def run_rollout(
    gateway: Gateway,
    route: str,
    stable: Instance,
    canary: Instance,
    policy: RolloutPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = print,
) -> RolloutResult:
    """Shift traffic to ``canary`` step by step; promote it into the stable slot or roll back.

    ``canary`` must already run in the gateway's canary slot and ``stable`` in the stable one.
    """
    steps: list[tuple[int, Decision, str]] = []
    for percent in policy.steps:
        gateway.set_weights(route, percent)
        decision: Decision = "inconclusive"
        reason = ""
        before = (scrape(canary.port), scrape(stable.port))
        for _ in range(policy.max_extensions + 1):
            sleep(policy.step_seconds)
            after = (scrape(canary.port), scrape(stable.port))
            decision, reason = judge(after[0].since(before[0]), after[1].since(before[1]), policy)
            if decision != "inconclusive" or percent == 100:
                break
            report(f"step {percent}%: inconclusive ({reason}); extending")
        if decision == "inconclusive" and percent == 100:
            after_stable = scrape(stable.port).since(before[1])
            if after_stable.requests == 0:  # at 100 % stable sees nothing: judge the canary alone
                decision, reason = judge(scrape(canary.port).since(before[0]), after_stable, policy)
        steps.append((percent, decision, reason))
        report(f"step {percent}%: {decision} ({reason})")
        if decision != "pass":
            gateway.set_weights(route, 0)
            canary.stop()
            report("rolled back: all traffic on stable")
            return RolloutResult(False, steps)
    _promote(gateway, route, stable, canary)
    report("promoted: the new version now runs in the stable slot")
    return RolloutResult(True, steps)


def _promote(gateway: Gateway, route: str, stable: Instance, canary: Instance) -> None:
    # The canary carries all traffic; replace the stable slot's process with the new
    # version, move traffic back to the stable slot, then retire the canary.
    old_exit = stable.stop()
    if old_exit != 0:
        log.warning("old stable exited with %s", old_exit)
    stable.config = canary.config
    stable.env = dict(canary.env)
    stable.start()
    wait_up(gateway, route, stable.slot)
    gateway.set_weights(route, 0)
    canary.stop()


def wait_up(gateway: Gateway, route: str, slot: str, timeout: float = 15.0) -> None:
    """Until the gateway's health check counts ``slot`` as up again."""
    deadline = time.monotonic() + timeout
    while gateway.server_state(route, slot) != "UP":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{route}/{slot} not up at the gateway within {timeout:.0f}s")
        time.sleep(0.1)


def rolling_restart(gateway: Gateway, route: str, instances: Sequence[Instance]) -> None:
    """Replace every instance one by one. Each drains on SIGTERM (readiness off, so the
    gateway's health check moves traffic away) before it stops; the next is replaced only
    when the gateway counts the new one as up."""
    for instance in instances:
        instance.stop()
        instance.start()
        wait_up(gateway, route, instance.slot)


def run_rollout_harness(
    process: str,
    stable_config: Path,
    canary_config: Path,
    public_port: int,
    steps: Sequence[int],
    step_seconds: float,
    min_requests: int,
    load_paths: Sequence[str],
) -> int:
    """``bff rollout``: gateway + stable + canary on loopback, the rollout, then teardown.

    Exit 0 when the canary was promoted, 3 when it was rolled back."""
    import socket
    import threading

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
    gateway = Gateway([Route(process, public_port, ports[0], ports[1])])
    stable = Instance(process, ports[0], stable_config, "stable", slot="stable")
    canary = Instance(process, ports[1], canary_config, "canary", slot="canary")
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            path = load_paths[i % len(load_paths)]
            i += 1
            try:
                url = gateway.url(process) + path
                request = urllib.request.Request(url, headers={"X-User-Id": str(1 + i % 1000)})  # noqa: S310
                with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback only
                    pass
            except OSError:
                pass

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4 if load_paths else 0)]
    try:
        gateway.start()
        stable.start()
        wait_up(gateway, process, "stable")
        canary.start()
        wait_up(gateway, process, "canary")
        print(f"gateway http://127.0.0.1:{public_port} → stable :{ports[0]}, canary :{ports[1]}", flush=True)
        for worker in workers:
            worker.start()
        policy = RolloutPolicy(steps=steps, step_seconds=step_seconds, min_requests=min_requests)
        result = run_rollout(gateway, process, stable, canary, policy, report=lambda line: print(line, flush=True))
        return 0 if result.promoted else 3
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
        canary.stop()
        stable.stop()
        gateway.stop()


__all__ = [
    "Instance",
    "RolloutPolicy",
    "RolloutResult",
    "Sample",
    "judge",
    "parse_metrics",
    "rolling_restart",
    "run_rollout",
    "run_rollout_harness",
    "scrape",
    "wait_up",
]
