"""Zero-downtime operation through a real HAProxy: rolling restarts and canary rollouts
under constant load, counting every failed request."""

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shared.gateway import Gateway, Route
from shared.rollout import Instance, RolloutPolicy, judge, parse_metrics, rolling_restart, run_rollout, wait_up
from tests.support import Standins, mobile_config

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (.ci/run installs it)")


def free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [int(sock.getsockname()[1]) for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


class Load:
    """Constant load on the gateway from a background thread; counts every failure."""

    def __init__(self, url: str, paths: list[str], workers: int = 4) -> None:
        self.url = url
        self.paths = paths
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)]

    def _run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers={"X-User-Id": str(7 + worker)}) as client:
            i = 0
            while not self._stop.is_set():
                path = self.paths[i % len(self.paths)]
                i += 1
                try:
                    response = client.get(path)
                    status = response.status_code
                    self.statuses.append(status)
                    if status >= 500:
                        self.failures.append(f"{path}: {status} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{path}: {type(exc).__name__}")

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def stack(upstreams: Standins, tmp_path: Path) -> Iterator[tuple[Gateway, Instance, Instance, Path]]:
    public, stable_port, canary_port = free_ports(3)
    config = mobile_config(upstreams, server={"drain_seconds": 2.0, "shutdown_grace_seconds": 5}, deadline_seconds=5.0)
    # These tests are about the gateway and the lifecycle: generous upstream timeouts keep a
    # CPU-starved 2-core machine (four load threads, two BFFs, HAProxy, stand-ins) from
    # turning slow answers into 503s that have nothing to do with a restart.
    for upstream in config["upstreams"].values():
        upstream["policy"] = {"attempt_timeout": 2.0}
    good = write_config(tmp_path / "good.yaml", config)
    gateway = Gateway([Route("mobile", public, stable_port, canary_port)])
    stable = Instance("mobile", stable_port, good, "stable", slot="stable")
    canary = Instance("mobile", canary_port, good, "canary", slot="canary")
    gateway.start()
    stable.start()
    try:
        wait_up(gateway, "mobile", "stable")
        yield gateway, stable, canary, tmp_path
    finally:
        canary.stop(timeout=10)
        stable.stop(timeout=10)
        gateway.stop()


PATHS = ["/v1/products/42", "/v1/home", "/v1/me"]
FAST = RolloutPolicy(step_seconds=1.0, min_requests=20, max_extensions=5)


def test_rolling_restarts_under_load_drop_nothing_three_rounds_in_a_row(
    stack: tuple[Gateway, Instance, Instance, Path],
) -> None:
    gateway, stable, canary, _ = stack
    canary.start()
    gateway.set_weights("mobile", 50)  # two replicas sharing the traffic
    wait_up(gateway, "mobile", "canary")
    with Load(gateway.url("mobile"), PATHS) as load:
        for _ in range(3):
            rolling_restart(gateway, "mobile", [stable, canary])
    assert load.failures == []
    assert len(load.statuses) > 100


def test_a_healthy_canary_is_promoted_through_every_step_with_no_failed_request(
    stack: tuple[Gateway, Instance, Instance, Path],
) -> None:
    gateway, stable, canary, _ = stack
    canary.start()
    wait_up(gateway, "mobile", "canary")
    with Load(gateway.url("mobile"), PATHS) as load:
        result = run_rollout(gateway, "mobile", stable, canary, FAST, report=lambda _: None)
    assert result.promoted, result.steps
    assert [percent for percent, _, _ in result.steps] == [5, 25, 50, 100]
    assert load.failures == []
    assert gateway.weights("mobile") == {"stable": 100, "canary": 0}


def test_a_bad_canary_is_rolled_back_automatically(
    stack: tuple[Gateway, Instance, Instance, Path], upstreams: Standins
) -> None:
    gateway, stable, canary, tmp_path = stack
    # The new version points accounts at a port nobody listens on: /v1/me and /v1/home fail.
    broken = mobile_config(upstreams, server={"drain_seconds": 1.0, "shutdown_grace_seconds": 5})
    broken["upstreams"]["accounts"] = {"regions": {"eu-west-1": f"http://127.0.0.1:{free_ports(1)[0]}"}}
    canary.config = write_config(tmp_path / "bad.yaml", broken)
    canary.start()
    wait_up(gateway, "mobile", "canary")
    with Load(gateway.url("mobile"), PATHS) as load:
        result = run_rollout(gateway, "mobile", stable, canary, FAST, report=lambda _: None)
    assert not result.promoted
    failed_step, decision, _ = result.steps[-1]
    assert decision == "fail"
    assert failed_step < 50  # rolled back before it reached half the traffic
    assert gateway.weights("mobile")["canary"] == 0
    # Client errors stay bounded by the canary's share of traffic during the bad step.
    assert len(load.failures) <= failed_step / 100 * len(load.statuses) + 5


def test_a_quiet_step_is_inconclusive_not_passed() -> None:
    text = 'bff_http_requests_total{process="p",route="/v1/home",method="GET",status="200"} 3.0\n'
    canary = parse_metrics(text)
    decision, _ = judge(canary, canary, RolloutPolicy(min_requests=50))
    assert decision == "inconclusive"


def test_judge_fails_a_canary_with_more_errors() -> None:
    ok = parse_metrics('bff_http_requests_total{route="/x",status="200"} 100\n')
    bad = parse_metrics(
        'bff_http_requests_total{route="/x",status="200"} 90\nbff_http_requests_total{route="/x",status="503"} 10\n'
    )
    assert judge(bad, ok, RolloutPolicy(min_requests=50))[0] == "fail"
    assert judge(ok, ok, RolloutPolicy(min_requests=50))[0] == "pass"


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
