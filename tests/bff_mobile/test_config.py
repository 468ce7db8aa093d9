"""bff_mobile refuses to start on invalid configuration, naming the key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bff_mobile.app import create_app
from bff_mobile.settings import MobileSettings
from shared import ConfigError


def bff(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}  # only the file under test counts
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_config_naming_an_unknown_upstream_refuses_to_build_the_app() -> None:
    settings = MobileSettings.model_validate({"upstreams": {"billing": {}}})
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert caught.value.problems[0][0] == "upstreams.billing"


def test_config_naming_an_unknown_operation_is_refused() -> None:
    settings = MobileSettings.model_validate({"upstreams": {"catalog": {"operations": {"get_prodcut": {}}}}})
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    assert caught.value.problems[0][0] == "upstreams.catalog.operations.get_prodcut"


def test_config_check_accepts_the_bundled_config() -> None:
    result = bff("config", "check", "bff_mobile/config.yaml", "--process", "mobile")
    assert result.returncode == 0, result.stderr
    assert "valid configuration" in result.stdout


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("server:\n  port: 80000\n", "server.port"),
        ("deadline_seconds: -1\n", "deadline_seconds"),
        (
            "upstreams:\n  catalog:\n    policy:\n      attempt_timeout: -0.5\n",
            "upstreams.catalog.policy.attempt_timeout",
        ),
        ("upstreams:\n  catalog:\n    failover_order: [eu-west-1, mars-1]\n", "upstreams.catalog.failover_order"),
        ("upstreams:\n  catalog:\n    unknown_knob: 1\n", "upstreams.catalog.unknown_knob"),
    ],
)
def test_config_check_refuses_bad_files_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = bff("config", "check", str(path), "--process", "mobile")
    assert result.returncode == 2
    assert key in result.stderr
    assert "Traceback" not in result.stderr


def test_serving_with_an_invalid_config_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  port: -1\n")
    result = bff("serve", "mobile", "--config", str(path))
    assert result.returncode == 2
    assert "server.port" in result.stderr
