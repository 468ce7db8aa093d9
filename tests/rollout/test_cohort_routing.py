"""Cohort routing in the real HAProxy, in front of two stub servers: which users of which
cohort reach the canary at each step, that a user only moves stable -> canary as steps
go on, that one command moves everyone back, and that the gateway reads the client
headers as the process does (an invalid value is ignored, never an error)."""

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shared.cli.rollout.buckets import user_bucket
from shared.cli.rollout.cohorts import RolloutPolicy, parse_steps
from shared.cli.rollout.gateway import VERSION_HEADER, Gateway, Route
from shared.cli.rollout.steps import wait_up
from tests.rollout.support import free_ports

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (.ci/run installs it)")

SALT = "fixedsalt"
POLICY = RolloutPolicy(steps=parse_steps("android >=4.2: 30; mobile: 50; 3.*: 60; all: 100"))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a health check closing its connection early is not news


class _Stub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    public, stable_port, canary_port = free_ports(3)
    servers = [_Server(("127.0.0.1", port), _Stub) for port in (stable_port, canary_port)]
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    cohorts = tuple(step.cohort for step in POLICY.steps)
    route = Route("mobile", public, stable_port, canary_port, cohorts=cohorts, session_cookie="__Host-bff_session")
    running = Gateway([route])
    try:
        running.start()
        wait_up(running, "mobile", "stable")
        wait_up(running, "mobile", "canary")
        running.set_version("mobile", "stable", "1.4.0")
        running.set_version("mobile", "canary", "1.5.0")
        running.set_salt("mobile", SALT)
        running.set_cohort_routing("mobile", True)
        yield running
    finally:
        running.stop()
        for server in servers:
            server.shutdown()
            server.server_close()


_client = httpx.Client(timeout=5)  # one client: building one per request costs more than the request


def served_by(gateway: Gateway, headers: dict[str, str] | list[tuple[str, str]]) -> str:
    answer = _client.get(gateway.url("mobile") + "/v1/products/42", headers=headers)
    assert answer.status_code == 200
    return answer.headers[VERSION_HEADER]


USERS = [
    (str(user), platform, version)
    for user in range(1, 121)
    for platform, version in [
        (("android", "ios", "web")[user % 3], ("3.9.1", "4.1.0", "4.2.0", "5.0.0-beta.1")[user % 4])
    ]
]


def expected_canary(user: str, platform: str, version: str, weights: list[int]) -> bool:
    """The rule the gateway should follow: any set step whose cohort holds the user with
    the user's bucket below the step's weight."""
    bucket = user_bucket(user, SALT)
    return any(
        bucket < weight and step.cohort.matches(platform, ".".join(version.split("-")[0].split(".")[:2]))
        for step, weight in zip(POLICY.steps, weights, strict=True)
    )


def test_each_step_sends_exactly_the_users_whose_bucket_is_below_its_weight_within_its_cohort(
    gateway: Gateway,
) -> None:
    weights = [0] * len(POLICY.steps)
    history: dict[str, list[str]] = {user: [] for user, _, _ in USERS}
    for number, step in enumerate(POLICY.steps[:3], start=1):
        gateway.set_cohort_weight("mobile", number, step.weight)
        weights[number - 1] = step.weight
        for user, platform, version in USERS:
            served = served_by(gateway, {"X-User-Id": user, "X-Client-Platform": platform, "X-App-Version": version})
            assert (served == "1.5.0") == expected_canary(user, platform, version, weights), (user, platform, version)
            history[user].append(served)
    on_canary = [user for user, versions in history.items() if versions[-1] == "1.5.0"]
    assert 0 < len(on_canary) < len(USERS)
    # Sticky and monotone: once on the canary, a user stays there through later steps.
    for versions in history.values():
        assert versions == sorted(versions), versions  # "1.4.0" < "1.5.0": never canary then stable


def test_web_users_stay_on_stable_until_a_step_names_them(gateway: Gateway) -> None:
    gateway.set_cohort_weight("mobile", 1, 100)
    gateway.set_cohort_weight("mobile", 2, 100)
    web = {served_by(gateway, {"X-User-Id": u, "X-Client-Platform": "web", "X-App-Version": "4.5.0"}) for u in "12345"}
    android = {
        served_by(gateway, {"X-User-Id": u, "X-Client-Platform": "Android", "X-App-Version": "4.5"}) for u in "12345"
    }
    assert web == {"1.4.0"}
    assert android == {"1.5.0"}


def test_invalid_or_repeated_client_headers_are_ignored_for_routing_not_refused(gateway: Gateway) -> None:
    gateway.set_cohort_weight("mobile", 1, 100)  # android >=4.2, everyone of it
    assert served_by(gateway, {"X-User-Id": "1", "X-Client-Platform": "android", "X-App-Version": "4.2.0"}) == "1.5.0"
    assert served_by(gateway, {"X-User-Id": "1", "X-Client-Platform": "android", "X-App-Version": "4.x"}) == "1.4.0"
    assert served_by(gateway, {"X-User-Id": "1", "X-Client-Platform": "toaster", "X-App-Version": "4.2.0"}) == "1.4.0"
    twice = [("X-User-Id", "1"), ("X-Client-Platform", "android"), ("X-Client-Platform", "android")]
    assert served_by(gateway, [*twice, ("X-App-Version", "4.2.0")]) == "1.4.0"
    assert served_by(gateway, {"X-User-Id": "1", "X-Client-Platform": "android", "X-App-Version": "41.0.0"}) == "1.5.0"


def test_the_bearer_token_subject_names_the_user(gateway: Gateway) -> None:
    gateway.set_cohort_weight("mobile", 4, 50)  # all: 50

    def encode(part: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    def token(subject: str) -> str:  # read, not verified, by the gateway: the BFF verifies
        return f"{encode({'alg': 'ES256'})}.{encode({'sub': subject})}.signature"

    for subject in ("7", "8", "19", "23", "40"):
        expected = "1.5.0" if user_bucket(subject, SALT) < 50 else "1.4.0"
        assert served_by(gateway, {"Authorization": f"Bearer {token(subject)}"}) == expected, subject


def test_without_a_token_the_session_cookie_then_the_anonymous_id_name_the_user(gateway: Gateway) -> None:
    gateway.set_cohort_weight("mobile", 4, 50)  # all: 50
    for session in ("s-1", "s-2", "s-3", "s-4", "s-5", "s-6"):
        expected = "1.5.0" if user_bucket(session, SALT) < 50 else "1.4.0"
        assert served_by(gateway, {"Cookie": f"theme=dark; __Host-bff_session={session}"}) == expected, session
        assert served_by(gateway, {"X-Anonymous-Id": session}) == expected, session


def test_one_command_moves_every_user_back_to_stable(gateway: Gateway) -> None:
    gateway.set_cohort_weight("mobile", 4, 100)
    assert {served_by(gateway, {"X-User-Id": str(u)}) for u in range(1, 20)} == {"1.5.0"}
    gateway.set_cohort_routing("mobile", False)
    assert {served_by(gateway, {"X-User-Id": str(u)}) for u in range(1, 20)} == {"1.4.0"}
    assert gateway.cohort_weights("mobile")["enabled"] == 0


def test_a_step_or_weight_out_of_range_is_refused(gateway: Gateway) -> None:
    with pytest.raises(ValueError, match=r"steps 1\.\.4"):
        gateway.set_cohort_weight("mobile", 5, 10)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        gateway.set_cohort_weight("mobile", 1, 101)
    with pytest.raises(ValueError, match="version for the gateway"):
        gateway.set_version("mobile", "canary", "1.5 with spaces")
