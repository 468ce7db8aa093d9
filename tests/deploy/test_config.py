"""The config files the overlays ship: mounted so hot reload works, own region first, and
accepted by the process exactly as the pod will start it (file + environment + secrets)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from shared.cli.app import load_process_settings
from shared.errors import ConfigError
from shared.process import discover_processes
from tests.deploy.tools import K8S, OVERLAYS, PROCESSES, REGIONS, Obj, config_file, container, one, pod_spec, render
from upstreams.registry import registered_upstreams

overlays = pytest.mark.parametrize(("process", "region"), OVERLAYS, ids=[f"{p}-{r}" for p, r in OVERLAYS])
#: Every registered upstream needs production URLs: identity too (its JWKS and token
#: endpoint), or the process would call the local stand-in's address.
UPSTREAMS = {spec.name for spec in registered_upstreams()}


def pod_environment(objects: tuple[Obj, ...]) -> dict[str, str]:
    """The variables the container starts with: its env, the downward API and the Secret's
    keys (from secret.example.yaml, with values of the right shape instead of placeholders)."""
    environ: dict[str, str] = {}
    for variable in container(objects)["env"]:
        if "value" in variable:
            environ[variable["name"]] = variable["value"]
        else:
            assert variable["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['track']"
            environ[variable["name"]] = "canary"
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    for name in example["stringData"]:
        if name.startswith("BFF_CACHE__ENCRYPTION_KEYS__"):
            environ[name] = base64.b64encode(os.urandom(32)).decode()
        elif name == "REDIS_URL":
            environ[name] = "redis://redis.redis.svc:6379/0"
        elif name == "BFF_CACHE__ACTIVE_KEY_ID":
            environ[name] = example["stringData"][name]
        else:
            environ[name] = "test-only-value"
    return environ


def env_hint(error: ConfigError, environ: dict[str, str]) -> str:
    """Name the pod variables behind the refused keys: every BFF_* variable is a config key."""
    culprits = {
        name
        for name in environ
        if name.startswith("BFF_") and name != "BFF_CONFIG"
        for key, _ in error.problems
        if key.startswith(name[len("BFF_") :].lower().replace("__", "."))
    }
    return f"\n(set by the pod's environment: {', '.join(sorted(culprits))})" if culprits else ""


@overlays
def test_config_is_accepted_by_the_process_as_the_pod_starts_it(process: str, region: str, tmp_path: Path) -> None:
    spec = discover_processes().get(process)
    if spec is None:
        pytest.skip(f"process {process!r} is not registered under bff.processes yet")
    objects = render(process, region)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_file(objects)), encoding="utf-8")
    environ = pod_environment(objects)
    with mock.patch.dict(os.environ, environ, clear=True):
        try:
            settings = load_process_settings(spec, path)
        except ConfigError as exc:
            pytest.fail(f"bff serve {process} would refuse to start in {region}:\n{exc}{env_hint(exc, environ)}")
    assert settings.server.host == "0.0.0.0"
    redis = settings.cache.redis_settings
    assert redis is not None and redis.password is not None  # the ACL password, from the Secret
    assert redis.topology == {"mobile": "sentinel", "web": "cluster"}[process]
    assert redis.tls


@overlays
def test_config_is_mounted_as_a_directory_from_a_fixed_name(process: str, region: str) -> None:
    objects = render(process, region)
    mount = next(m for m in container(objects)["volumeMounts"] if m["name"] == "config")
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates: no hot reload"
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == f"bff-{process}-config", "a hashed name rolls pods instead of reloading"
    environ = {e["name"]: e.get("value") for e in container(objects)["env"]}
    assert environ["BFF_CONFIG"] == f"{mount['mountPath']}/config.yaml"
    assert one(objects, "ConfigMap", volume["configMap"]["name"])


@overlays
def test_every_upstream_tries_its_own_region_first(process: str, region: str) -> None:
    upstreams: dict[str, Any] = config_file(render(process, region))["upstreams"]
    assert set(upstreams) == UPSTREAMS
    for name, upstream in upstreams.items():
        assert upstream["failover_order"][0] == region, name
        assert sorted(upstream["failover_order"]) == sorted(upstream["regions"]) == sorted(REGIONS), name
        assert all(url.startswith("https://") for url in upstream["regions"].values()), name


@pytest.mark.parametrize("process", PROCESSES)
def test_regions_of_a_process_differ_only_in_failover_order(process: str) -> None:
    def without_failover_order(region: str) -> Obj:
        config = config_file(render(process, region))
        for upstream in config["upstreams"].values():
            del upstream["failover_order"]
        return config

    first, *others = (without_failover_order(region) for region in REGIONS)
    assert all(other == first for other in others)
