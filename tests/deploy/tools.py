"""What the deploy tests run: the overlays, the tools that render and check them, and where.

Tools (scripts/validate-deploy.sh installs the last three into ``.venv/deploy-tools``):

- kustomize, as ``kubectl kustomize`` (the tools' pinned kubectl, else one on PATH);
- ``kubernetes-validate`` (Kubernetes' own schemas) and ``checkov``, in the tools venv;
- node with the npm ``@kubernetes-models/*`` packages, for the custom resources.

A test whose tool is missing is skipped and names the tool, unless
``DEPLOY_CHECKS_REQUIRE_TOOLS=1`` (set by the script, and meant for CI): then it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
HERE = Path(__file__).resolve().parent
TOOLS = Path(os.environ.get("DEPLOY_CHECKS_TOOLS", ROOT / ".venv" / "deploy-tools"))
INSTALL_HINT = "run scripts/validate-deploy.sh --install"

PROCESSES = ("mobile", "web")
REGIONS = ("eu-west-1", "eu-central-1")
OVERLAYS = tuple((process, region) for process in PROCESSES for region in REGIONS)
#: The oldest Kubernetes the manifests support (the preStop `sleep` action is on by default
#: from 1.30) and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

#: API groups of the custom resources in the manifests (validate_schemas.py has the same).
CUSTOM_GROUPS = frozenset({"argoproj.io", "gateway.networking.k8s.io", "monitoring.coreos.com"})

Obj = dict[str, Any]


def require(available: bool, tool: str) -> None:
    """Skip (or, with DEPLOY_CHECKS_REQUIRE_TOOLS=1, fail) when ``tool`` is missing."""
    if available:
        return
    message = f"{tool} is not installed ({INSTALL_HINT})"
    if os.environ.get("DEPLOY_CHECKS_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def kubectl() -> str | None:
    pinned = TOOLS / "bin" / "kubectl"
    return str(pinned) if pinned.exists() else shutil.which("kubectl")


def tools_python() -> Path | None:
    python = TOOLS / "bin" / "python"
    return python if (TOOLS / "bin" / "checkov").exists() and python.exists() else None


def node_models() -> Path | None:
    node_dir = TOOLS / "node"
    if shutil.which("node") and (node_dir / "node_modules" / "@kubernetes-models").is_dir():
        return node_dir
    return None


@cache
def render(process: str, region: str) -> tuple[Obj, ...]:
    """The objects of one overlay, as ``kubectl kustomize`` renders them."""
    binary = kubectl()
    require(binary is not None, "kubectl (kustomize)")
    assert binary is not None
    overlay = K8S / "overlays" / process / region
    result = subprocess.run([binary, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{overlay.relative_to(ROOT)} does not render:\n{result.stderr}"
    return tuple(obj for obj in yaml.safe_load_all(result.stdout) if obj)


def run_json(command: list[str], objects: list[Obj]) -> Any:
    """Run a checker that reads objects as JSON on stdin and answers JSON on stdout."""
    result = subprocess.run(command, input=json.dumps(objects), capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def one(objects: tuple[Obj, ...], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(objects: tuple[Obj, ...]) -> Obj:
    """The pod spec the Rollout runs: its workloadRef's Deployment's template."""
    ref = one(objects, "Rollout")["spec"]["workloadRef"]
    spec: Obj = one(objects, ref["kind"], ref["name"])["spec"]["template"]["spec"]
    return spec


def container(objects: tuple[Obj, ...]) -> Obj:
    containers = pod_spec(objects)["containers"]
    assert len(containers) == 1, "one container per pod: the BFF process"
    main: Obj = containers[0]
    return main


def config_file(objects: tuple[Obj, ...]) -> Obj:
    """The process's YAML config, parsed from the ConfigMap the pod mounts."""
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "config")
    configmap = one(objects, "ConfigMap", volume["configMap"]["name"])
    config: Obj = yaml.safe_load(configmap["data"]["config.yaml"]) or {}
    return config
