"""The container image, read statically (no Docker engine here): what it copies, installs
and runs agrees with pyproject.toml and with the manifests that run it."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.deploy.tools import DOCKERFILE, OVERLAYS, ROOT, config_file, container, pod_spec, render

TEXT = DOCKERFILE.read_text(encoding="utf-8")
#: Instructions with their continuation lines joined, comments dropped.
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n\s*", " ", TEXT).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(keyword: str) -> list[str]:
    return [line[len(keyword) :].strip() for line in INSTRUCTIONS if line.split()[0].upper() == keyword]


def test_build_and_runtime_stages_share_one_pinned_base() -> None:
    stages = instructions("FROM")
    assert [stage.split()[-1] for stage in stages] == ["build", "runtime"]
    bases = {stage.split()[0] for stage in stages}
    assert len(bases) == 1, "the venv copied from build runs on the build stage's interpreter"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", bases.pop())


def test_runs_bff_serve_as_the_pods_non_root_user() -> None:
    assert json.loads(instructions("ENTRYPOINT")[-1]) == ["bff", "serve"]
    assert json.loads(instructions("CMD")[-1]) == ["mobile"]
    user = instructions("USER")[-1]
    assert re.fullmatch(r"\d+:\d+", user), "numeric, so the kubelet can verify runAsNonRoot"
    uid = int(user.split(":")[0])
    assert uid >= 10000
    for process, region in OVERLAYS:
        assert pod_spec(render(process, region))["securityContext"]["runAsUser"] == uid


def test_exposes_every_process_port() -> None:
    exposed = {int(port) for line in instructions("EXPOSE") for port in line.split()}
    ports = {
        port["containerPort"] for process, region in OVERLAYS for port in container(render(process, region))["ports"]
    }
    assert ports <= exposed


def test_installs_the_pinned_dependencies_as_wheels_only() -> None:
    install = next(line for line in instructions("RUN") if "pip wheel" in line)
    assert "-c constraints.txt" in install
    assert "--only-binary=:all:" in install


def test_copies_every_package_pyproject_builds_and_the_ignore_file_lets_them_through() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {line.split()[0].rstrip("/") for line in instructions("COPY") if not line.startswith("--from")}
    assert packages <= copied
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= {
        name for line in instructions("COPY") for name in line.split()[:-1]
    }
    allowed = {
        line[1:].rstrip("/")
        for line in DOCKERFILE.with_name("Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    assert packages | {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"]} <= allowed


@pytest.mark.parametrize("region", sorted({r for p, r in OVERLAYS if p == "web"}))
def test_the_web_allowlist_the_config_names_is_built_into_the_image(region: str) -> None:
    path = config_file(render("web", region))["graphql"]["persisted_queries_file"]
    assert path.startswith("/"), "absolute: relative paths resolve against the ConfigMap mount"
    build = next(line for line in instructions("RUN") if "pip wheel" in line)
    assert f"bff_web/persisted_queries.json {path}" in build
    assert (ROOT / "bff_web" / "persisted_queries.json").is_file()
