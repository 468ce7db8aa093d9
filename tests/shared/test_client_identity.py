"""X-Client-Platform / X-App-Version as bounded labels: what each value becomes, what is
counted as invalid, and that the label set cannot grow past its bound."""

import pytest

from shared.client_identity import ANONYMOUS, REPEATED, CohortLabels, parse_version


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4.2.1", (4, 2)),
        ("4.2", (4, 2)),
        ("04.02.0", (4, 2)),
        ("5.0.0-beta.1+build.7", (5, 0)),
        ("5.1-rc1", (5, 1)),
        ("12.345+meta", (12, 345)),
    ],
)
def test_a_semver_version_parses_to_major_minor(raw: str, expected: tuple[int, int]) -> None:
    assert parse_version(raw) == expected


@pytest.mark.parametrize("raw", ["", "4", "4.x", "v4.2", "4.2.1.0", "1234.1", "4.2 ", "4.2-", "٤.٢", "4.2-" + "a" * 65])
def test_anything_else_is_not_a_version(raw: str) -> None:
    assert parse_version(raw.encode("utf-8")) is None


def test_known_platforms_are_labelled_in_lower_case_and_the_rest_is_other() -> None:
    cohorts = CohortLabels()
    assert cohorts.label(b"iOS", b"4.2.1") == ("ios", "4.2")
    assert cohorts.label(b"android", None) == ("android", "unknown")
    assert cohorts.label(b"web", b"1.0") == ("web", "1.0")
    assert cohorts.label(b"windows-phone", b"1.0") == ("other", "1.0")
    assert cohorts.label(None, None) == ANONYMOUS
    assert cohorts.invalid == {"platform": 1, "version": 0}


def test_an_invalid_or_repeated_value_is_ignored_and_counted_every_time() -> None:
    cohorts = CohortLabels()
    for _ in range(3):
        assert cohorts.label(b"ios", b"latest") == ("ios", "other")
    assert cohorts.label(REPEATED, REPEATED) == ("other", "other")
    assert cohorts.invalid == {"platform": 1, "version": 4}


def test_a_seen_value_gets_the_same_tuple_back() -> None:
    cohorts = CohortLabels()
    assert cohorts.label(b"android", b"4.2.1") is cohorts.label(b"android", b"4.2.1")


def test_version_buckets_stop_growing_at_the_bound_without_counting_valid_versions_as_invalid() -> None:
    cohorts = CohortLabels(max_version_buckets=3)
    labels = {cohorts.label(b"ios", f"{major}.{minor}.0".encode()) for major in range(1, 20) for minor in range(10)}
    assert {bucket for _, bucket in labels} == {"1.0", "1.1", "1.2", "other"}
    assert cohorts.label(b"ios", b"1.2.9") == ("ios", "1.2")  # a bucket in use stays in use
    assert cohorts.invalid == {"platform": 0, "version": 0}


def test_many_distinct_raw_values_are_classified_without_unbounded_memory() -> None:
    cohorts = CohortLabels()
    for patch in range(5000):
        assert cohorts.label(b"ios", f"4.2.{patch}".encode()) == ("ios", "4.2")
    assert sum(len(versions) for versions in cohorts._known.values()) <= 512
