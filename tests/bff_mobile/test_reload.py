"""Hot reload: a changed config file takes effect between requests, under load, with no
failed request; an invalid file is refused and the running config stays."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import ADMIN, ADMIN_TOKEN, ServedUrl, Standins, mobile_config, mobile_settings, serve_mobile


def write_config(path: Path, data: dict[str, Any]) -> None:
    # Write then rename, as config management tools do, so a reader never sees half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data))
    tmp.replace(path)


def with_breaker(config: dict[str, Any], **breaker: Any) -> dict[str, Any]:
    config["upstreams"]["catalog"]["policy"] = {"breaker": breaker}
    return config


@pytest.fixture
def watched(upstreams: Standins, tmp_path: Path) -> Iterator[tuple[ServedUrl, Path, dict[str, Any]]]:
    path = tmp_path / "mobile.yaml"
    config = with_breaker(mobile_config(upstreams, reload={"interval_seconds": 0.05}), minimum_calls=20)
    write_config(path, config)
    with serve_mobile(
        mobile_settings(
            upstreams, **{k: v for k, v in config.items() if k != "upstreams"}, upstreams=config["upstreams"]
        ),
        path,
    ) as url:
        yield url, path, config


async def catalog_minimum_calls(admin: httpx.AsyncClient) -> set[int]:
    breakers = (await admin.get("/admin/breakers", headers=ADMIN)).json()
    return {b["policy"]["minimum_calls"] for b in breakers if b["upstream"] == "catalog"}


async def test_breaker_threshold_changes_under_load_without_a_failed_request(
    watched: tuple[ServedUrl, Path, dict[str, Any]],
) -> None:
    url, path, config = watched
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            statuses.append((await client.get("/v1/products/42")).status_code)

    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        httpx.AsyncClient(base_url=url.admin, timeout=10) as admin,
    ):
        workers = [asyncio.create_task(load(client)) for _ in range(8)]
        await asyncio.sleep(0.3)
        write_config(path, with_breaker(config, minimum_calls=7))
        for _ in range(100):
            if await catalog_minimum_calls(admin) == {7}:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*workers)
        assert await catalog_minimum_calls(admin) == {7}
        reloads = (await admin.get("/admin/config", headers=ADMIN)).json()["reloads"]
    assert reloads >= 1
    assert len(statuses) > 50
    assert set(statuses) == {200}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"deadline_seconds": -1}, "deadline_seconds"),
        ({"upstreams": {"catalog": {"policy": {"attempt_timeout": -2}}}}, "upstreams.catalog.policy.attempt_timeout"),
        ({"upstreams": {"catalog": {"failover_order": ["eu-west-1", "mars-1"]}}}, "upstreams.catalog"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_an_invalid_file_at_reload_is_refused_naming_the_key_and_the_old_config_stays(
    watched: tuple[ServedUrl, Path, dict[str, Any]], change: dict[str, Any], key: str
) -> None:
    url, path, config = watched
    bad = {**config, **change}
    if "upstreams" in change:
        bad["upstreams"] = {
            **config["upstreams"],
            "catalog": {**config["upstreams"]["catalog"], **change["upstreams"]["catalog"]},
        }
    write_config(path, bad)
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        httpx.AsyncClient(base_url=url.admin, timeout=10) as admin,
    ):
        refused = await admin.post("/admin/reload", headers=ADMIN)
        assert refused.status_code == 422
        assert key in {p["key"] for p in refused.json()["problems"]}
        effective = (await admin.get("/admin/config", headers=ADMIN)).json()
        assert effective["settings"]["deadline_seconds"] == 1.5
        assert effective["last_reload_error"] is not None
        assert await catalog_minimum_calls(admin) == {20}
        assert (await client.get("/v1/products/42")).status_code == 200


async def test_restart_only_keys_are_kept_and_reported(watched: tuple[ServedUrl, Path, dict[str, Any]]) -> None:
    url, path, config = watched
    write_config(path, {**config, "server": {"port": 1}})
    async with httpx.AsyncClient(base_url=url.admin, timeout=10) as admin:
        answer = await admin.post("/admin/reload", headers=ADMIN)
    assert answer.status_code == 200
    assert any(note.startswith("server:") for note in answer.json()["notes"])


async def test_the_admin_listener_is_restart_only_but_its_token_reloads(
    watched: tuple[ServedUrl, Path, dict[str, Any]],
) -> None:
    url, path, config = watched
    rotated = {"Authorization": "Bearer rotated"}
    write_config(path, {**config, "admin": {"token": "rotated", "host": "127.0.0.2", "port": 1}})
    async with httpx.AsyncClient(base_url=url.admin, timeout=10) as admin:
        for _ in range(100):  # the watcher picks the file up
            if (await admin.get("/admin/config", headers=rotated)).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await admin.get("/admin/config", headers=ADMIN)).status_code == 401
        answer = await admin.post("/admin/reload", headers=rotated)
        effective = (await admin.get("/admin/config", headers=rotated)).json()
    assert answer.status_code == 200
    notes = answer.json()["notes"]
    assert any(note.startswith("admin.host:") for note in notes)
    assert any(note.startswith("admin.port:") for note in notes)
    assert effective["settings"]["admin"] == {"token": "**********", "host": "127.0.0.1", "port": 0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sighup_reloads_a_served_process(upstreams: Standins, tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "mobile.yaml"
    admin_port = free_port()
    config = with_breaker(
        mobile_config(
            upstreams,
            server={"port": port},
            admin={"token": ADMIN_TOKEN, "port": admin_port},
            reload={"watch": False},
        ),
        minimum_calls=20,
    )
    write_config(path, config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "serve", "mobile", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            for _ in range(100):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            write_config(path, with_breaker(config, minimum_calls=9))
            process.send_signal(signal.SIGHUP)
            values: set[int] = set()
            for _ in range(100):
                breakers = client.get(f"http://127.0.0.1:{admin_port}/admin/breakers", headers=ADMIN).json()
                values = {b["policy"]["minimum_calls"] for b in breakers if b["upstream"] == "catalog"}
                if values == {9}:
                    break
                time.sleep(0.05)
            assert values == {9}
    finally:
        process.terminate()
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
