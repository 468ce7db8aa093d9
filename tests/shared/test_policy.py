import pytest
from pydantic import ValidationError

from shared import CallPolicy


def test_overlay_replaces_only_fields_written_in_the_override() -> None:
    default = CallPolicy(connect_timeout=0.2, attempt_timeout=0.9, failover=True)
    override = CallPolicy.model_validate({"attempt_timeout": 0.5})
    merged = default.overlaid(override)
    assert merged == CallPolicy(connect_timeout=0.2, attempt_timeout=0.5, failover=True)


def test_overlay_with_nothing_keeps_the_default() -> None:
    default = CallPolicy(attempt_timeout=0.7)
    assert default.overlaid(None) is default
    assert default.overlaid(CallPolicy.model_validate({})) is default


def test_overlay_revalidates_the_combination() -> None:
    default = CallPolicy(connect_timeout=0.5, attempt_timeout=1.0)
    override = CallPolicy.model_validate({"attempt_timeout": 0.3})
    with pytest.raises(ValidationError, match="connect_timeout"):
        default.overlaid(override)


def test_policies_are_immutable() -> None:
    policy = CallPolicy()
    with pytest.raises(ValidationError):
        policy.attempt_timeout = 3  # type: ignore[misc]
