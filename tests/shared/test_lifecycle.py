"""Graceful shutdown of a served process: SIGTERM → not ready at once, still serving
through the drain period, in-flight requests finish, exit 0."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import ADMIN, ADMIN_TOKEN, Standins, mobile_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_sigterm_drains_then_exits_zero_without_dropping_a_request(upstreams: Standins, tmp_path: Path) -> None:
    port = free_port()
    config = mobile_config(upstreams, server={"port": port, "drain_seconds": 1.0, "shutdown_grace_seconds": 5})
    path = tmp_path / "mobile.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "mobile", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(100):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            upstreams.fault("accounts", "*", latency_ms=400)
            in_flight = asyncio.ensure_future(client.get("/v1/me", headers={"X-User-Id": "7"}))
            await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            assert (await client.get("/readyz")).status_code == 503
            during_drain = await client.get("/v1/products/42")
            assert during_drain.status_code == 200
            assert (await in_flight).status_code == 200
        started = time.monotonic()
        assert await asyncio.to_thread(process.wait, 15) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()


def serve_in_child(config: dict[str, Any], tmp_path: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    path = tmp_path / "mobile.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    return subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "mobile", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


async def test_sigterm_drains_the_admin_listener_with_the_public_one(upstreams: Standins, tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    config = mobile_config(
        upstreams,
        server={"port": port, "drain_seconds": 1.0, "shutdown_grace_seconds": 5},
        admin={"token": ADMIN_TOKEN, "port": admin_port},
    )
    process = serve_in_child(config, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin_port}", timeout=10) as admin:
            for _ in range(100):
                try:
                    if (await admin.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            # Still serving while draining: an operator can look at the pod going away.
            assert (await admin.get("/readyz")).status_code == 503
            assert (await admin.get("/admin/breakers", headers=ADMIN)).status_code == 200
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    for closed in (port, admin_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", closed)) != 0


def test_an_admin_port_in_use_refuses_to_start_naming_the_key(upstreams: Standins, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = mobile_config(upstreams, server={"port": free_port()}, admin={"port": taken.getsockname()[1]})
        process = serve_in_child(config, tmp_path, stderr=subprocess.PIPE)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert b"admin.host/admin.port" in stderr
