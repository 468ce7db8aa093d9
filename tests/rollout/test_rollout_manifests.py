"""A policy rendered for Argo Rollouts: the version regexes select exactly the cohort's
major.minor buckets, checked against the selector itself over a grid of versions."""

import re

import pytest

from shared.cli.rollout.cohorts import CohortSelector
from shared.cli.rollout.manifests import header_matches, int_range_regex, version_regex

GRID = [*range(25), 99, 100, 101, 998, 999]


@pytest.mark.parametrize(("low", "high"), [(0, 999), (2, 999), (13, 457), (0, 0), (9, 10), (99, 100), (100, 999)])
def test_an_integer_range_regex_matches_exactly_the_range(low: int, high: int) -> None:
    pattern = re.compile(int_range_regex(low, high))
    assert [n for n in range(1000) if pattern.fullmatch(str(n))] == list(range(low, high + 1))


@pytest.mark.parametrize(
    "text", ["android >=4.2", "3.*", ">=4.2,<5", "<2.5", "4.2", ">=10.0", ">=3.998,<4.3", ">=4.0", "<5.0", "mobile"]
)
def test_a_version_regex_matches_exactly_the_cohort_buckets(text: str) -> None:
    selector = CohortSelector.parse(text)
    pattern = re.compile(version_regex(selector))
    for major in GRID:
        for minor in GRID:
            bucket = f"{major}.{minor}"
            assert bool(pattern.fullmatch(bucket)) == selector.matches("android", bucket), (text, bucket)


def test_header_matches_name_the_platform_exactly_and_the_raw_version_by_regex() -> None:
    (platform, version) = header_matches(CohortSelector.parse("ios+android >=4.2"))
    assert platform == {"headerName": "X-Client-Platform", "headerValue": {"regex": "^(?:android|ios)$"}}
    raw = re.compile(version["headerValue"]["regex"])
    assert raw.search("4.2.0-beta.1+b7") and raw.search("12.0") and not raw.search("4.1.9")
    assert header_matches(CohortSelector.parse("all")) == []
