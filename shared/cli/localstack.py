"""``bff stack``: the whole system on loopback, for a laptop or a test.

Starts the upstream stand-ins (every upstream, both regions) in one child process and
each BFF process in its own, then each process's browser client (static files, on an
origin of its own so CORS is real), waits until every one is ready, prints where they
listen (public and admin listener, client page) and a request to try, and on Ctrl-C (or
SIGTERM) stops them all gracefully.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from types import FrameType

from shared.process import BrowserClient, ProcessSpec

READY_TIMEOUT = 30.0


class _Stop(Exception):
    pass


def run_stack(processes: Mapping[str, ProcessSpec]) -> int:
    from shared.cli.app import load_process_settings

    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_signal)
    try:
        standins = _spawn(["standins"])
        children.append(("stand-ins", standins))
        standin_urls = sorted(
            {url for spec in processes.values() for up in spec.upstreams() for url in up.local_regions.values()}
        )
        for url in standin_urls:
            _wait_ready(f"{url}/_health", standins)

        endpoints = []
        for name, spec in processes.items():
            settings = load_process_settings(spec, None)
            child = _spawn(["serve", name])
            children.append((name, child))
            base = _url(settings.server.host, settings.server.port)
            _wait_ready(f"{base}/readyz", child)
            admin = settings.admin
            admin_base = base if admin.port is None else _url(admin.host, admin.port)
            endpoints.append((name, base, admin_base))

        clients = []
        for name, spec in processes.items():
            if spec.browser_client is not None:
                client = _serve_files(spec.browser_client)
                children.append((f"{name} client", client))
                page = _url("127.0.0.1", spec.browser_client.port)
                _wait_ready(f"{page}/", client)
                clients.append((name, page))

        print("\nLocal stack is up (Ctrl-C stops it):")
        print(f"  stand-ins  {len(standin_urls)} servers on {standin_urls[0]} .. {standin_urls[-1]}")
        for name, base, admin_base in endpoints:
            print(f"  {name:<10} {base}   (OpenAPI: {base}/openapi.json; admin API: {admin_base}/admin)")
        for name, page in clients:
            print(f"  {name + ' client':<10} {page}/   (open it in a browser: sign in, dashboard, orders)")
        if endpoints:
            mint = "$(.venv/bin/bff-dev-token --user 7)"  # a shell substitution, printed for the reader
            print(f'\nTry:\n  curl -s -H "Authorization: Bearer {mint}" {endpoints[0][1]}/v1/home\n', flush=True)
        while True:
            for name, child in children:
                if child.poll() is not None:
                    print(f"bff stack: {name} exited with {child.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        return 0
    except RuntimeError as exc:
        print(f"bff stack: {exc}", file=sys.stderr)
        return 1
    finally:
        _stop_all([child for _, child in children])


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    # No load balancer has to notice a local process leaving: Ctrl-C skips the drain
    # period (in-flight requests still finish) unless the environment asks for one.
    env = {"BFF_SERVER__DRAIN_SECONDS": "0", **os.environ}
    return subprocess.Popen([sys.executable, "-m", "shared.cli", *args], env=env)


def _serve_files(client: BrowserClient) -> subprocess.Popen[bytes]:
    # The standard library's file server is enough for a page of static files; its
    # request log would drown the stack's own output.
    command = [sys.executable, "-m", "http.server", str(client.port), "--bind", "127.0.0.1"]
    return subprocess.Popen(
        [*command, "--directory", str(client.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_ready(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"process behind {url} exited with {child.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {READY_TIMEOUT:.0f}s")


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


__all__ = ["run_stack"]
