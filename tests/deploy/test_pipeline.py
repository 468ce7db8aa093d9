"""The delivery pipeline (.github/workflows): it passes its offline linters (actionlint for
the workflows, hadolint for the Dockerfile), and it has the four parts the release process
needs: an on-demand developer build, a nightly full build, the image build with scans and a
push, and a promotion that pins the image in the overlays, first stage first."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import DOCKERFILE, ROOT, TOOLS, render, require

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def run_steps(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") + step.get("uses", "") for step in job["steps"])


def test_the_workflows_pass_actionlint() -> None:
    actionlint = TOOLS / "bin" / "actionlint"
    require(actionlint.exists(), "actionlint (deploy tools venv)")
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    assert files, "no workflow"
    result = subprocess.run([str(actionlint), *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = TOOLS / "bin" / "hadolint"
    require(hadolint.exists(), "hadolint (deploy tools venv)")
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_developer_build_runs_on_demand_and_checks_lint_types_and_tests() -> None:
    dev = workflow("dev-build.yml")
    assert {"pull_request", "workflow_dispatch"} <= set(dev["on"])
    steps = run_steps(dev["jobs"]["check"])
    assert "make lint" in steps and "make typecheck" in steps and ".venv/bin/pytest" in steps


def test_the_nightly_build_runs_the_whole_suite_as_ci_does() -> None:
    nightly = workflow("nightly.yml")
    assert "schedule" in nightly["on"] and "workflow_dispatch" in nightly["on"]
    assert ".ci/run" in run_steps(nightly["jobs"]["full-suite"])


def test_the_image_is_linted_scanned_before_it_is_pushed() -> None:
    image = workflow("image.yml")
    assert "hadolint" in run_steps(image["jobs"]["dockerfile"])
    build = image["jobs"]["build-scan-push"]
    assert build["needs"] == "dockerfile"
    uses = [step.get("uses", "") for step in build["steps"]]
    scan = next(i for i, use in enumerate(uses) if use.startswith("aquasecurity/trivy-action"))
    push = next(i for i, step in enumerate(build["steps"]) if step.get("with", {}).get("push") is True)
    assert scan < push, "the scan gates the push"
    assert build["steps"][scan]["with"]["exit-code"] == "1"


def test_promotion_pins_the_image_stage_by_stage_and_waits_for_the_canary() -> None:
    promote = workflow("promote.yml")
    jobs = promote["jobs"]
    assert jobs["staging"]["with"]["region"] == "eu-central-1"
    assert "staging" in jobs["production"]["needs"], "production only after staging"
    stage = workflow("promote-stage.yml")["jobs"]
    pin = run_steps(stage["pin"])
    assert "scripts/set-image.py" in pin and "scripts/validate-deploy.sh" in pin and "git push" in pin
    assert stage["canary"]["needs"] == "pin"
    assert "kubectl argo rollouts status" in run_steps(stage["canary"])


def _set_image() -> Any:
    spec = importlib.util.spec_from_file_location("set_image", ROOT / "scripts" / "set-image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_set_image_pins_tag_and_digest_and_the_overlay_still_renders(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    overlay = ROOT / "deploy" / "k8s" / "overlays" / "mobile" / "eu-west-1" / "kustomization.yaml"
    pinned = _set_image().pin(overlay.read_text(), "1.5.0", digest)
    assert _set_image().pin(pinned, "1.5.0", digest) == pinned, "idempotent"
    assert pinned.count("#") == overlay.read_text().count("#"), "comments kept"
    image = next(i for i in yaml.safe_load(pinned)["images"] if i["name"] == "bff")
    assert (image["newTag"], image["digest"]) == ("1.5.0", digest)
    assert render("mobile", "eu-west-1")  # the real overlay is untouched and renders
