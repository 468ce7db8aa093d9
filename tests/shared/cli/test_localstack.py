"""``bff stack`` itself: started as a subprocess on its default ports, it brings up the
stand-ins and both processes, answers a screen for a dev token, and stops on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[3]
PUBLIC = {"mobile": "http://127.0.0.1:8080", "web": "http://127.0.0.1:8081"}
#: Every port the stack listens on: stand-ins (two regions each), public and admin listeners.
PORTS = [8080, 8081, 9080, 9081, *(p for first in (9101, 9111, 9121, 9131, 9141, 9190) for p in (first, first + 1))]
START_TIMEOUT = 60.0


def in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def dev_token(user: int) -> str:
    minted = subprocess.run(
        [sys.executable, "-m", "upstreams.identity.mint", "--user", str(user)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return minted.stdout.strip()


@pytest.fixture
def stack() -> Iterator[subprocess.Popen[bytes]]:
    busy = [port for port in PORTS if in_use(port)]
    if busy:
        pytest.skip(f"bff stack's default ports are in use: {busy}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_") and k != "REDIS_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"bff stack exited with {process.returncode} while starting"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not ready within {START_TIMEOUT:.0f}s")


def test_bff_stack_serves_both_processes_and_stops_on_ctrl_c(stack: subprocess.Popen[bytes]) -> None:
    for base in PUBLIC.values():
        wait_ready(stack, f"{base}/readyz")
    answer = httpx.get(f"{PUBLIC['mobile']}/v1/home", headers={"Authorization": f"Bearer {dev_token(7)}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["greeting"].startswith("Hi ")
    assert httpx.get(f"{PUBLIC['web']}/v1/products/42", timeout=10).status_code == 200
    stack.send_signal(signal.SIGINT)
    assert stack.wait(timeout=30) == 0
    assert [port for port in PORTS if in_use(port)] == []
