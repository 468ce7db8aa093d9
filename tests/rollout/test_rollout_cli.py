"""`bff rollout` and `bff canary-steps` on the command line: a policy that cannot be read is
refused with the reason (exit 2) before anything starts; the steps printed for a policy
file are the ones the Rollout manifest carries."""

from pathlib import Path

import pytest
import yaml

from shared.cli import main
from shared.cli.rollout.cohorts import RolloutPolicy
from shared.cli.rollout.manifests import argo_steps

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("android >=4.2: 5; mobile: 25", "the last step must be `all: 100%`"),
        ("tv: 5; all: 100", "unknown platform 'tv'"),
        ("android: five; all: 100", "cannot read the step"),
    ],
)
def test_an_unreadable_policy_is_refused_before_anything_starts(
    steps: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("{}")
    argv = ["rollout", "mobile", "--stable-config", str(config), "--canary-config", str(config), "--steps", steps]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_canary_steps_prints_what_the_rollout_manifest_carries(capsys: pytest.CaptureFixture[str]) -> None:
    policy_file = ROOT / "deploy" / "k8s" / "mobile" / "rollout-policy.yaml"
    assert main(["canary-steps", str(policy_file), "--process", "mobile", "--max-p99-seconds", "0.5"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    policy = RolloutPolicy.model_validate(yaml.safe_load(policy_file.read_text()))
    assert printed["steps"] == argo_steps(policy, "mobile", "0.5")
    rollout = yaml.safe_load((ROOT / "deploy" / "k8s" / "mobile" / "rollout.yaml").read_text())
    assert printed["steps"] == rollout["spec"]["strategy"]["canary"]["steps"]
    assert printed["managedRoutes"] == rollout["spec"]["strategy"]["canary"]["trafficRouting"]["managedRoutes"]


def test_canary_steps_refuses_a_weight_inside_a_cohort(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"steps": ["android >=4.2: 5%", "all: 100%"]}))
    assert main(["canary-steps", str(policy_file), "--process", "mobile"]) == 2
    assert "cannot weight inside a header route" in capsys.readouterr().err
