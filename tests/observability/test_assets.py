"""The alert rules and the dashboard only name metrics that /metrics exposes, and the
rules pass promtool (installed by .ci/run from Debian's prometheus package)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

ASSETS = Path(__file__).parents[2] / "deploy" / "observability"
METRIC = re.compile(r"\b(bff_[a-z_]+)\b")


def named_metrics() -> set[str]:
    expressions = [
        rule["expr"]
        for group in yaml.safe_load((ASSETS / "prometheus-rules.yaml").read_text())["groups"]
        for rule in group["rules"]
    ]
    dashboard = json.loads((ASSETS / "grafana-dashboard.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {name for expr in expressions for name in METRIC.findall(expr)}
    return {name for name in names if not name.startswith("bff:")}


async def test_every_metric_the_rules_and_dashboard_name_exists_on_metrics(mobile: httpx.AsyncClient) -> None:
    await mobile.get("/v1/home", headers={"X-User-Id": "7"})
    exposed = {
        line.split("{")[0].split(" ")[0]
        for line in (await mobile.get("/metrics")).text.splitlines()
        if line and not line.startswith("#")
    }
    missing = sorted(name for name in named_metrics() if name not in exposed)
    assert named_metrics()
    assert missing == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (.ci/run installs it)")
def test_rules_pass_promtool_check_and_unit_tests() -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", "prometheus-rules.yaml"], cwd=ASSETS, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        ["promtool", "test", "rules", "prometheus-rules.test.yaml"],
        cwd=ASSETS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
