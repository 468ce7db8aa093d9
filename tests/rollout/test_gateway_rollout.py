"""Zero-downtime operation through a real HAProxy: rolling restarts, and cohort canary
rollouts of real BFF instances under load from synthetic app users, counting every failed
request and every user's serving versions (from X-Served-By-Version).

The load is bounded (a few thousand requests on loopback); the steps are judged by
request counts, not by time, so a busy machine makes a test slower, not flaky."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.cli.rollout.analysis import scrape
from shared.cli.rollout.buckets import user_bucket
from shared.cli.rollout.cohorts import RolloutPolicy, parse_steps
from shared.cli.rollout.gateway import Gateway, Route
from shared.cli.rollout.load import AppUser, AppUserLoad, app_users
from shared.cli.rollout.steps import Instance, RolloutResult, rolling_restart, run_rollout, wait_up
from tests.rollout.support import free_ports, write_config
from tests.support import Standins, mobile_config

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (.ci/run installs it)")

OLD, NEW = "1.4.0", "1.5.0"
#: New apps (4.x, 5.x) read products; old ones (3.x) also read /v1/me, which needs accounts.
PROFILES: tuple[tuple[str | None, str | None, tuple[str, ...]], ...] = (
    ("android", "4.2.3", ("/v1/products/42",)),
    ("ios", "4.3.0", ("/v1/products/42",)),
    ("web", "5.0.0", ("/v1/products/42",)),
    ("android", "3.9.1", ("/v1/me", "/v1/products/42")),
    ("ios", "3.8.2", ("/v1/me",)),
)
USERS = app_users(30, PROFILES)
#: Count-based and short: a verdict once a cohort has 30 canary requests, polled twice a second.
FAST = {"poll_seconds": 0.5, "min_requests": 30, "min_cell_requests": 12, "max_wait_seconds": 60.0}


def policy(steps: str, **overrides: Any) -> RolloutPolicy:
    return RolloutPolicy.model_validate({**FAST, **overrides, "steps": parse_steps(steps)})


def bucket_of(user: AppUser, salt: str) -> int:
    return user_bucket(str(user.user_id), salt)


def in_step(user: AppUser, rollout: RolloutPolicy, number: int, salt: str) -> bool:
    """Whether the gateway sends ``user`` to the canary by step ``number`` (1-based)."""
    version = ".".join((user.version or "").split(".")[:2]) or "unknown"
    return any(
        step.cohort.matches(user.platform or "unknown", version) and bucket_of(user, salt) < step.weight
        for step in rollout.steps[:number]
    )


def salt_reaching_every_step(rollout: RolloutPolicy, users: list[AppUser]) -> str:
    """A bucket salt under which every step adds at least one user of its cohort to the
    canary, so each step has traffic to judge (a fixed salt keeps the test deterministic)."""
    for attempt in range(1000):
        salt = f"s{attempt}"
        if all(
            any(in_step(u, rollout, n, salt) and not in_step(u, rollout, n - 1, salt) for u in users)
            for n in range(1, len(rollout.steps))
        ):
            return salt
    raise AssertionError("no salt reaches every step")


def went_back(versions: list[str]) -> bool:
    return NEW in versions and OLD in versions[versions.index(NEW) :]


@pytest.fixture
def configs(upstreams: Standins, tmp_path: Path) -> dict[str, Any]:
    config = mobile_config(upstreams, server={"drain_seconds": 2.0, "shutdown_grace_seconds": 5}, deadline_seconds=5.0)
    # These tests are about the gateway and the lifecycle: generous upstream timeouts keep a
    # CPU-starved 2-core machine (load threads, two BFFs, HAProxy, stand-ins) from turning
    # slow answers into 503s that have nothing to do with the rollout.
    for upstream in config["upstreams"].values():
        upstream["policy"] = {"attempt_timeout": 2.0}
    return config


def _start_stack(
    tmp_path: Path, stable_config: dict[str, Any], canary_config: dict[str, Any], rollout: RolloutPolicy
) -> tuple[Gateway, Instance, Instance]:
    public, stable_port, canary_port = free_ports(3)
    cohorts = tuple(step.cohort for step in rollout.steps)
    gateway = Gateway([Route("mobile", public, stable_port, canary_port, cohorts=cohorts)])
    stable = Instance(
        "mobile", stable_port, write_config(tmp_path / "stable.yaml", stable_config), "stable", version=OLD
    )
    canary = Instance(
        "mobile", canary_port, write_config(tmp_path / "canary.yaml", canary_config), "canary", "canary", version=NEW
    )
    try:
        gateway.start()
        stable.start()
        canary.start()
        wait_up(gateway, "mobile", "stable")
        wait_up(gateway, "mobile", "canary")
    except BaseException:
        _stop_stack(gateway, stable, canary)
        raise
    return gateway, stable, canary


def _stop_stack(gateway: Gateway, stable: Instance, canary: Instance) -> None:
    canary.stop(timeout=10)
    stable.stop(timeout=10)
    gateway.stop()


@contextmanager
def stack(
    tmp_path: Path, stable_config: dict[str, Any], canary_config: dict[str, Any], rollout: RolloutPolicy
) -> Iterator[tuple[Gateway, Instance, Instance]]:
    # The machine is shared: a port found free may be taken before a process binds it. Then
    # that process exits at start, and the stack is started again on other ports.
    for attempt in range(3):
        try:
            running = _start_stack(tmp_path, stable_config, canary_config, rollout)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield running
    finally:
        _stop_stack(*running)


def roll(
    gateway: Gateway, stable: Instance, canary: Instance, rollout: RolloutPolicy, salt: str, lines: list[str]
) -> tuple[RolloutResult, AppUserLoad]:
    with AppUserLoad(gateway.url("mobile"), USERS) as load:
        result = run_rollout(gateway, "mobile", stable, canary, rollout, salt=salt, report=lines.append)
    return result, load


def test_a_healthy_canary_is_promoted_cohort_by_cohort_and_no_user_goes_back(
    configs: dict[str, Any], tmp_path: Path
) -> None:
    rollout = policy("android >=4.2: 30; mobile: 40; all: 60; all: 100")
    salt = salt_reaching_every_step(rollout, USERS)
    lines: list[str] = []
    with stack(tmp_path, configs, configs, rollout) as (gateway, stable, canary):
        result, load = roll(gateway, stable, canary, rollout, salt, lines)
        assert result.outcome == "promoted", "\n".join(lines)
        assert [str(s.step) for s in result.steps] == [str(step) for step in rollout.steps]
        assert [s.decision for s in result.steps] == ["pass"] * 4
        assert all(s.canary.requests >= 30 for s in result.steps)
        assert load.failures() == []
        sequences = load.versions_by_user()
        assert set(sequences) == {user.user_id for user in USERS}
        assert [u for u, seen in sequences.items() if went_back(seen)] == []
        assert all(seen[-1] == NEW for seen in sequences.values())  # everyone ends on the new version
        assert gateway.cohort_weights("mobile")["enabled"] == 0
        assert stable.version == NEW


def test_a_canary_broken_for_app_3x_is_rolled_back_with_errors_only_there_and_within_the_step(
    configs: dict[str, Any], upstreams: Standins, tmp_path: Path
) -> None:
    # The new version points accounts at a port nobody listens on: /v1/me fails, which only
    # the 3.x apps call; the 4.x and 5.x apps read products and never notice.
    broken = {**configs, "upstreams": dict(configs["upstreams"])}
    broken["upstreams"]["accounts"] = {"regions": {"eu-west-1": f"http://127.0.0.1:{free_ports(1)[0]}"}}
    rollout = policy(">=4.0: 50; all: 30; all: 100")
    salt = salt_reaching_every_step(rollout, USERS)
    lines: list[str] = []
    with stack(tmp_path, configs, broken, rollout) as (gateway, stable, canary):
        result, load = roll(gateway, stable, canary, rollout, salt, lines)
        assert result.outcome == "rolled back", "\n".join(lines)
        assert [s.decision for s in result.steps] == ["pass", "fail"], "\n".join(lines)
        assert " 3." in result.steps[-1].reason  # the cell that failed: (platform, 3.x)
        assert gateway.cohort_weights("mobile")["enabled"] == 0
    failures = load.failures()
    assert failures, "the broken cohort was never reached"
    seen = [(a.user.user_id, a.user.version, a.path, a.status, a.served_by) for a in failures]
    assert {answer.user.version for answer in failures} <= {"3.9.1", "3.8.2"}, seen
    assert {answer.served_by for answer in failures} == {NEW}, seen
    # Within the step's weight: only the 3.x users whose bucket is below 30 ever saw an error.
    reached = {user.user_id for user in USERS if in_step(user, rollout, 2, salt)}
    assert {answer.user.user_id for answer in failures} <= reached
    # No user of another cohort, on either side, saw an error; after the rollback, nobody.
    assert all(answer.user.version in ("3.9.1", "3.8.2") for answer in failures)


@pytest.mark.parametrize(("on_no_data", "outcome"), [("abort", "rolled back"), ("hold", "held")])
def test_a_step_whose_cohort_gets_no_traffic_is_never_passed(
    configs: dict[str, Any], tmp_path: Path, on_no_data: str, outcome: str
) -> None:
    rollout = policy("web >=6.0: 50; all: 100", max_wait_seconds=3.0, on_no_data=on_no_data)  # nobody runs web 6
    lines: list[str] = []
    with stack(tmp_path, configs, configs, rollout) as (gateway, stable, canary):
        result, load = roll(gateway, stable, canary, rollout, "quiet", lines)
        assert result.outcome == outcome, "\n".join(lines)
        assert [(s.number, s.decision) for s in result.steps] == [(1, "no data")]
        assert any("waiting: canary served 0 of 30" in line for line in lines), "\n".join(lines)
        weights = gateway.cohort_weights("mobile")
        assert weights["enabled"] == (1 if on_no_data == "hold" else 0)
        assert weights["1"] == (50 if on_no_data == "hold" else 0)
    assert load.failures() == []
    assert {answer.served_by for answer in load.answers} == {OLD}


def test_a_canary_with_a_breaking_openapi_change_never_receives_traffic(
    configs: dict[str, Any], tmp_path: Path
) -> None:
    # Stable rate-limits (generously) and documents 429 with Retry-After; the new version
    # does not: a client branching on 429 breaks, so the contract check refuses it.
    limited = {**configs, "rate_limit": {"enabled": True, "per_client": {"per_second": 10000, "burst": 10000}}}
    rollout = policy("all: 50; all: 100")
    lines: list[str] = []
    with stack(tmp_path, limited, configs, rollout) as (gateway, stable, canary):
        canary_port = canary.port
        before = scrape(canary_port)
        result, load = roll(gateway, stable, canary, rollout, "contract", lines)
        assert result.outcome == "refused", "\n".join(lines)
        assert result.steps == []
        assert any("429" in problem for problem in result.contract_problems), result.contract_problems
        assert gateway.cohort_weights("mobile")["enabled"] == 0
    assert sum(sample.requests for sample in before.cells.values()) == 0
    assert load.answers and {answer.served_by for answer in load.answers} == {OLD}
    assert load.failures() == []


def test_rolling_restarts_under_load_drop_nothing_three_rounds_in_a_row(
    configs: dict[str, Any], tmp_path: Path
) -> None:
    rollout = policy("all: 100")
    with stack(tmp_path, configs, configs, rollout) as (gateway, stable, canary):
        gateway.set_weights("mobile", 50)  # two replicas sharing the traffic
        with AppUserLoad(gateway.url("mobile"), USERS) as load:
            for _ in range(3):
                rolling_restart(gateway, "mobile", [stable, canary])
    assert load.failures() == []
    assert len(load.answers) > 100


def test_every_answer_through_the_gateway_names_its_version(configs: dict[str, Any], tmp_path: Path) -> None:
    rollout = policy("all: 100")
    with stack(tmp_path, configs, configs, rollout) as (gateway, _, _):
        gateway.set_version("mobile", "stable", OLD)
        assert httpx.get(gateway.url("mobile") + "/livez", timeout=5).headers["X-Served-By-Version"] == OLD
        assert (
            httpx.get(gateway.url("mobile") + "/livez", headers={"X-Canary": "always"}, timeout=5).headers[
                "X-Served-By-Version"
            ]
            == "canary"
        )


class RecordingGateway(Gateway):
    """The runtime API replaced by a record of weights, to watch every state in between."""

    def __init__(self, stable: int, canary: int) -> None:
        self.state = {"stable": stable, "canary": canary}
        self.seen: list[dict[str, int]] = []

    def command(self, line: str) -> str:
        verb, _, rest = line.partition(" weight ")
        server = rest.split()[0].split("/")[1]
        if verb == "set":
            self.state[server] = int(rest.split()[1])
            self.seen.append(dict(self.state))
            return ""
        return f"{self.state[server]} (initial 0)\n"


@pytest.mark.parametrize(("start", "percent"), [((0, 100), 0), ((100, 0), 100), ((95, 5), 25), ((50, 50), 5)])
def test_shifting_weights_never_leaves_both_servers_at_zero(start: tuple[int, int], percent: int) -> None:
    gateway = RecordingGateway(*start)
    gateway.set_weights("mobile", percent)
    assert gateway.state == {"stable": 100 - percent, "canary": percent}
    assert all(state["stable"] + state["canary"] > 0 for state in gateway.seen), gateway.seen
