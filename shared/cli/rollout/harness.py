"""``bff rollout``: a whole local cohort rollout on loopback. A real HAProxy
(shared/cli/rollout/gateway.py) in front of a stable and a canary ``bff serve`` process, optional
synthetic app users (shared/cli/rollout/load.py), the rollout (shared/cli/rollout/steps.py), teardown."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from shared.cli.app import load_process_settings
from shared.cli.rollout.cohorts import RolloutPolicy
from shared.cli.rollout.gateway import Gateway, Route
from shared.cli.rollout.load import AppUserLoad, app_users
from shared.cli.rollout.steps import Instance, run_rollout, wait_up
from shared.process import discover_processes

#: ``bff rollout``'s exit code per outcome.
EXIT_CODES = {"promoted": 0, "rolled back": 3, "held": 4, "refused": 5}


def run_rollout_harness(
    process: str,
    stable_config: Path,
    canary_config: Path,
    public_port: int,
    policy: RolloutPolicy,
    *,
    load_users: int = 0,
    stable_version: str = "stable",
    canary_version: str = "canary",
    salt: str | None = None,
) -> int:
    """``bff rollout``: gateway + stable + canary on loopback, the rollout, then teardown.

    With ``load_users``, that many synthetic app users (shared/cli/rollout/load.py) call
    through the gateway meanwhile. Exit 0 promoted, 3 rolled back, 4 held, 5 refused."""
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
    cohorts = tuple(step.cohort for step in policy.steps)
    # A browser session names its user when no token does (bff_web's sessions, when on).
    sessions = getattr(load_process_settings(discover_processes()[process], stable_config), "sessions", None)
    cookie = sessions.cookie_name if sessions is not None and getattr(sessions, "enabled", True) else None
    gateway = Gateway([Route(process, public_port, ports[0], ports[1], cohorts=cohorts, session_cookie=cookie)])
    stable = Instance(process, ports[0], stable_config, "stable", slot="stable", version=stable_version)
    canary = Instance(process, ports[1], canary_config, "canary", slot="canary", version=canary_version)
    load = AppUserLoad(gateway.url(process), app_users(load_users)) if load_users else None
    try:
        gateway.start()
        stable.start()
        wait_up(gateway, process, "stable")
        canary.start()
        wait_up(gateway, process, "canary")
        print(
            f"gateway http://127.0.0.1:{public_port} -> stable {stable_version} :{ports[0]}, "
            f"canary {canary_version} :{ports[1]}",
            flush=True,
        )
        if load is not None:
            load.__enter__()
        result = run_rollout(
            gateway, process, stable, canary, policy, salt=salt, report=lambda line: print(line, flush=True)
        )
        if load is not None:
            load.__exit__(None, None, None)
            back = [user for user, seen in load.versions_by_user().items() if _went_back(seen, canary_version)]
            went = (
                "moved back to stable at the rollback" if result.outcome == "rolled back" else "went canary -> stable"
            )
            print(
                f"load: {len(load.answers)} answers, {len(load.failures())} failed, {len(back)} users {went}",
                flush=True,
            )
        return EXIT_CODES[result.outcome]
    finally:
        if load is not None:
            load.__exit__(None, None, None)
        canary.stop()
        stable.stop()
        gateway.stop()


def _went_back(versions: Sequence[str], canary_version: str) -> bool:
    """Whether a user served by ``canary_version`` was later served by another version."""
    return canary_version in versions and any(v != canary_version for v in versions[versions.index(canary_version) :])


__all__ = ["EXIT_CODES", "run_rollout_harness"]
