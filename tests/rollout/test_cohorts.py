"""Cohort selectors and rollout policies: what a step's text means and what is refused."""

import pytest
from pydantic import ValidationError

from shared.cli.rollout.cohorts import CohortSelector, CohortStep, RolloutPolicy, parse_steps


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("android >=4.2", [("android", "4.2"), ("android", "10.0")], [("android", "4.1"), ("ios", "4.2")]),
        ("mobile", [("ios", "1.0"), ("android", "unknown")], [("web", "4.2"), ("unknown", "4.2")]),
        ("3.*", [("ios", "3.0"), ("web", "3.99")], [("ios", "4.0"), ("ios", "2.9"), ("ios", "other")]),
        (">=4.2,<5", [("web", "4.2"), ("web", "4.9")], [("web", "5.0")]),
        ("ios+web <5.0", [("web", "4.9")], [("android", "4.9"), ("web", "5.0"), ("web", "unknown")]),
        ("4.2", [("ios", "4.2")], [("ios", "4.3"), ("ios", "4.1")]),
        ("all", [("unknown", "unknown"), ("other", "other"), ("ios", "4.2")], []),
    ],
)
def test_a_selector_holds_exactly_its_cohort(
    text: str, inside: list[tuple[str, str]], outside: list[tuple[str, str]]
) -> None:
    selector = CohortSelector.parse(text)
    assert all(selector.matches(*cell) for cell in inside)
    assert not any(selector.matches(*cell) for cell in outside)


def test_a_selector_prints_in_the_form_it_is_read() -> None:
    for text in ["all", "mobile", "android >=4.2", "ios+web <5.0", ">=3.0,<4.0"]:
        assert str(CohortSelector.parse(text)) == text
        assert CohortSelector.parse(str(CohortSelector.parse(text))) == CohortSelector.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tv", "unknown platform 'tv'"),
        ("android >=five", "cannot read the version bound"),
        ("ios >=5 <4", "selects no version"),
        ("", "a cohort is empty"),
    ],
)
def test_a_selector_that_cannot_be_read_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CohortSelector.parse(text)


def test_steps_read_from_text_with_weights_and_floors() -> None:
    steps = parse_steps("android >=4.2: 5%; mobile: 25 min=40; all: 100%")
    assert [str(step) for step in steps] == ["android >=4.2: 5%", "mobile: 25%", "all: 100%"]
    assert [step.min_requests for step in steps] == [None, 40, None]
    assert [str(step) for step in parse_steps("5,25,50,100")] == ["all: 5%", "all: 25%", "all: 50%", "all: 100%"]


def test_a_policy_must_end_with_everyone_at_100_percent() -> None:
    with pytest.raises(ValidationError, match="the last step must be `all: 100%`"):
        RolloutPolicy(steps=parse_steps("mobile: 25; mobile: 100"))


def test_a_weight_past_100_is_refused() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        CohortStep.parse("all: 150")


def test_a_policy_validates_from_yaml_data_as_a_config_file_would() -> None:
    policy = RolloutPolicy.model_validate(
        {"steps": ["android >=4.2: 5%", {"cohort": "mobile", "weight": 25, "min_requests": 300}, "all: 100"]}
    )
    assert policy.step_floor(policy.steps[0]) == policy.min_requests
    assert policy.step_floor(policy.steps[1]) == 300
    with pytest.raises(ValidationError, match="on_no_data"):
        RolloutPolicy.model_validate({"on_no_data": "pass"})
