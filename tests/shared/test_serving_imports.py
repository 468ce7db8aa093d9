"""A serving process loads no tooling: the command line, the local stack, the gateway
driver, rollouts and their analysis, reports and scans, and the loopback test server are
for people and tests, not for the processes that serve traffic."""

from __future__ import annotations

import json
import subprocess
import sys

#: Modules only the ``bff`` command line, the local stack and the tests use.
TOOLING = (
    "shared.cli",
    "shared.cli.localstack",
    "shared.cli.rollout.gateway",
    "shared.cli.rollout.steps",
    "shared.cli.rollout.harness",
    "shared.cli.rollout.load",
    "shared.cli.rollout.manifests",
    "shared.cli.rollout.analysis",
    "shared.cli.rollout.cohorts",
    "shared.cli.rollout.buckets",
    "shared.cli.openapi_diff",
    "shared.cli.pii_report",
    "shared.pii_scan",
    "shared.cli.servers",
)


def test_importing_either_serving_process_loads_no_tooling_module() -> None:
    code = "import bff_mobile.app, bff_web.app, json, sys; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout))
    assert sorted(loaded.intersection(TOOLING)) == []
    assert "shared.app" in loaded  # the check ran against the real import graph
