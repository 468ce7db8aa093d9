"""Cohort canary rollouts through the local gateway (shared/cli/rollout/gateway.py), judged per cohort.

``run_rollout`` takes a ``RolloutPolicy`` (shared/cli/rollout/cohorts.py) and two running instances:

1. **Contract first**: the canary's OpenAPI document is diffed against stable's
   (shared/cli/openapi_diff.py); a breaking change under a supported API version
   (``/v1``) refuses the rollout before any user reaches the canary.
2. **Steps**: each step gives its cohort's users ``weight`` % on the canary, sticky per
   user (a user's bucket decides, so users only move stable → canary), and reads both
   instances' /metrics every ``poll_seconds``: the verdict of shared/cli/rollout/analysis.py
   (*fail* at once, *pass* once the cohort has its floor of requests, *wait* below it).
   A step still waiting after ``max_wait_seconds`` is aborted or held, by the policy's
   ``on_no_data``: never passed on no data.
3. **Rollback** (a fail, or no data with ``abort``): one runtime-API command moves every
   user back to stable, then the canary stops. **Promotion** (after ``all: 100%``): the
   stable slot's process is replaced by the new version, traffic returns to that slot, the
   canary retires.

Every routing change goes through HAProxy's runtime API: no reload, no dropped connection.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from shared.cli.openapi_diff import breaking_changes
from shared.cli.rollout.analysis import Sample, Verdict, judge_step, scrape
from shared.cli.rollout.cohorts import CohortStep, RolloutPolicy
from shared.cli.rollout.gateway import Gateway

log = logging.getLogger("bff.rollout")
Outcome = Literal["promoted", "rolled back", "held", "refused"]


@dataclass(slots=True)
class Instance:
    """One ``bff serve`` child process on a given port and track."""

    process: str
    port: int
    config: Path
    track: str
    #: The gateway server slot this instance fills: ``stable`` or ``canary``.
    slot: str = "stable"
    #: The version it runs, as answers name it in ``X-Served-By-Version``.
    version: str = "stable"
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


@dataclass(frozen=True, slots=True)
class StepResult:
    number: int
    step: CohortStep
    decision: Literal["pass", "fail", "no data"]
    reason: str
    canary: Sample
    stable: Sample


@dataclass(slots=True)
class RolloutResult:
    outcome: Outcome
    steps: list[StepResult] = field(default_factory=list)
    #: Breaking changes found by the contract check (``refused``).
    contract_problems: list[str] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"


def openapi_document(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{host}:{port}/openapi.json", timeout=5) as response:
        document: dict[str, Any] = orjson.loads(response.read())
    return document


def contract_problems(stable: dict[str, Any], canary: dict[str, Any], prefixes: Sequence[str]) -> list[str]:
    """Breaking changes from ``stable``'s document to ``canary``'s, under the supported
    API versions ``prefixes`` only (a path of a retired version may go)."""
    supported = {path: ops for path, ops in stable.get("paths", {}).items() if path.startswith(tuple(prefixes))}
    return breaking_changes({**stable, "paths": supported}, canary)


def run_rollout(
    gateway: Gateway,
    route: str,
    stable: Instance,
    canary: Instance,
    policy: RolloutPolicy,
    *,
    salt: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = print,
) -> RolloutResult:
    """Roll ``canary`` out step by step; promote it into the stable slot, roll it back, or
    hold. ``canary`` must already run in the gateway's canary slot and ``stable`` in the
    stable one, and the route must declare the policy's cohorts (``Route.cohorts``)."""
    declared = gateway.routes[route].cohorts
    if declared != tuple(step.cohort for step in policy.steps):
        raise ValueError(f"route {route} routes cohorts {[str(c) for c in declared]}, not the policy's steps")
    gateway.set_version(route, stable.slot, stable.version)
    gateway.set_version(route, canary.slot, canary.version)
    problems = contract_problems(
        openapi_document(stable.port), openapi_document(canary.port), policy.supported_api_prefixes
    )
    if problems:
        report(f"contract: {len(problems)} breaking change(s) in the canary's OpenAPI document; no traffic sent")
        for problem in problems:
            report(f"  {problem}")
        canary.stop()
        return RolloutResult("refused", contract_problems=problems)
    report("contract: the canary's OpenAPI document is compatible with stable's")
    gateway.set_salt(route, salt or secrets.token_hex(4))
    for number in range(1, len(policy.steps) + 1):
        gateway.set_cohort_weight(route, number, 0)
    gateway.set_cohort_routing(route, True)
    result = RolloutResult("promoted")
    start = (scrape(canary.port), scrape(stable.port))
    total = len(policy.steps)
    for number, step in enumerate(policy.steps, start=1):
        gateway.set_cohort_weight(route, number, step.weight)
        before = (scrape(canary.port), scrape(stable.port))
        began = clock()
        while True:
            sleep(policy.poll_seconds)
            canary_now, stable_now = scrape(canary.port), scrape(stable.port)
            verdict = judge_step(
                step, policy, canary_now.since(before[0]), stable_now.since(before[1]), stable_now.since(start[1])
            )
            waited = clock() - began
            if verdict.decision != "wait":
                break
            if waited >= policy.max_wait_seconds:
                break
            bound = f"{waited:.0f}s of {policy.max_wait_seconds:.0f}s"
            report(f"step {number}/{total} {step!s:<22} waiting: {verdict.reason} ({bound})")
        decision: Literal["pass", "fail", "no data"] = "no data" if verdict.decision == "wait" else verdict.decision
        result.steps.append(StepResult(number, step, decision, verdict.reason, verdict.canary, verdict.stable))
        report(_step_line(number, total, step, decision, verdict))
        if decision == "pass":
            continue
        if decision == "no data" and policy.on_no_data == "hold":
            report(f"held at step {number}: its cohort gave no verdict; a person decides (promote or abort)")
            result.outcome = "held"
            return result
        _roll_back(gateway, route, policy, canary)
        report("rolled back: every user on stable")
        result.outcome = "rolled back"
        return result
    _promote(gateway, route, policy, stable, canary)
    report(f"promoted: {canary.version} now runs in the stable slot")
    return result


def _step_line(number: int, total: int, step: CohortStep, decision: str, verdict: Verdict) -> str:
    return (
        f"step {number}/{total} {step!s:<22} canary {verdict.canary.describe():<32} "
        f"stable {verdict.stable.describe():<32} -> {decision.upper()} ({verdict.reason})"
    )


def _roll_back(gateway: Gateway, route: str, policy: RolloutPolicy, canary: Instance) -> None:
    gateway.set_cohort_routing(route, False)  # everyone, at once
    for number in range(1, len(policy.steps) + 1):
        gateway.set_cohort_weight(route, number, 0)
    canary.stop()


def _promote(gateway: Gateway, route: str, policy: RolloutPolicy, stable: Instance, canary: Instance) -> None:
    # Every user is on the canary (the last step is `all: 100%`). Replace the stable slot's
    # process with the new version, move everyone back to that slot, retire the canary.
    old_exit = stable.stop()
    if old_exit != 0:
        log.warning("old stable exited with %s", old_exit)
    stable.config = canary.config
    stable.env = dict(canary.env)
    stable.version = canary.version
    gateway.set_version(route, stable.slot, stable.version)
    stable.start()
    wait_up(gateway, route, stable.slot)
    _roll_back(gateway, route, policy, canary)


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


__all__ = [
    "Instance",
    "Outcome",
    "RolloutResult",
    "StepResult",
    "contract_problems",
    "openapi_document",
    "rolling_restart",
    "run_rollout",
    "wait_up",
]
