"""Warm ``GET /v1/home`` with the shared tier on one node, a Sentinel group and a Cluster,
in one run (issue 16; bench/RESULTS.md, "Redis topologies").

The in-process tiers (L1, screen cache) are off, so every warm request reads its entries
from Redis: the line shows what the topology costs a hit. Each topology is started from
the machine's redis-server on loopback ports of its own (tests/support.py, never 6379);
the stand-ins serve in this process on ephemeral ports; bff_mobile runs alone on CPU 1,
wrk and everything else on CPU 0. Every process started here is stopped on the way out::

    .venv/bin/python bench/redis_topologies.py                # about a minute
    .venv/bin/python bench/redis_topologies.py --duration 20 --users 100
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import TOPOLOGIES, Standins, free_port, running_topology  # noqa: E402

LUA = """
local users = tonumber(os.getenv("BENCH_USERS"))
local n = 0
request = function()
  n = n % users + 1
  return wrk.format("GET", "/v1/home", {["X-User-Id"] = tostring(n)})
end
"""


def config(standins: Standins, redis: dict[str, object], port: int) -> dict[str, object]:
    return {
        "server": {"port": port},
        "admin": {"port": None},
        "auth": {"mode": "trusted_header"},
        "rate_limit": {"enabled": False},
        "upstreams": standins.upstream_config(),
        "cache": {
            "redis": redis,
            "prefix": "benchtopo",
            "hmac_key": "bench",
            "encryption_keys": {"k1": base64.b64encode(b"3" * 32).decode()},
            "active_key_id": "k1",
            "l1_entries": 0,  # every hit reads Redis
            "screen_bytes": 0,
        },
    }


def upstream_calls(standins: Standins) -> int:
    return sum(standins.requests(name, region) for name, regions in standins.region_names.items() for region in regions)


def measure(name: str, standins: Standins, args: argparse.Namespace, work: Path) -> str:
    with running_topology(name, work / name) as topology:
        port = free_port()
        path = work / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config(standins, topology.cache, port)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_") and k != "REDIS_URL"}
        command = ["taskset", "-c", "1", sys.executable, "-m", "shared.cli", "serve", "mobile", "--config", str(path)]
        bff = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=5) as client:
                for _ in range(200):
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)
                for user in range(1, args.users + 1):  # warm: every entry in Redis
                    assert client.get("/v1/home", headers={"X-User-Id": str(user)}).status_code == 200
            before = upstream_calls(standins)
            wrk = subprocess.run(
                [
                    "taskset",
                    "-c",
                    "0",
                    "wrk",
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{args.duration}s",
                    "-s",
                    str(work / "home.lua"),
                    base,
                ],
                env={**env, "BENCH_USERS": str(args.users)},
                capture_output=True,
                text=True,
                check=True,
            )
            calls = upstream_calls(standins) - before
        finally:
            bff.terminate()
            bff.wait(timeout=30)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk.stdout)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", wrk.stdout)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk.stdout)
    return f"| {name} | {rate:,.0f} | {calls / max(total, 1):.3f} | {int(errors[1]) if errors else 0} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    standins = Standins()
    standins.start()
    lines = ["| topology | warm /v1/home req/s | upstream calls per request | non-2xx |", "|---|---|---|---|"]
    try:
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            (work / "home.lua").write_text(LUA)
            for name in TOPOLOGIES:
                (work / name).mkdir()
                lines.append(measure(name, standins, args, work))
                print(lines[-1], flush=True)
    finally:
        standins.stop()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
