"""Verdicts on a step from /metrics text: cohort against the same cohort, a broken cell
found inside a healthy total, and no data never a pass or a fail."""

from shared.cli.rollout.analysis import judge_step, parse_metrics
from shared.cli.rollout.cohorts import CohortStep, RolloutPolicy

POLICY = RolloutPolicy(min_requests=50, min_cell_requests=20)


def metrics(*cells: tuple[str, str, int, int]) -> str:
    """bff_http_requests_total lines: (platform, version, 200s, 503s) per cell."""
    lines = []
    for platform, version, ok, failed in cells:
        labels = f'process="bff_mobile",route="/v1/home",method="GET",platform="{platform}",version="{version}"'
        lines.append(f'bff_http_requests_total{{{labels},status="200"}} {ok}')
        lines.append(f'bff_http_requests_total{{{labels},status="503"}} {failed}')
    probe = 'process="bff_mobile",route="/readyz",method="GET",platform="unknown",version="unknown"'
    lines.append(f'bff_http_requests_total{{{probe},status="503"}} 1000')  # probes are not client traffic
    return "\n".join(lines) + "\n"


def test_metrics_are_read_per_client_cell_without_probes() -> None:
    snapshot = parse_metrics(metrics(("android", "4.2", 90, 10), ("ios", "3.1", 5, 0)))
    assert snapshot.cell(("android", "4.2")).requests == 100
    assert snapshot.cell(("android", "4.2")).errors == 10
    assert ("unknown", "unknown") not in snapshot.cells


def test_a_cohort_below_its_floor_waits() -> None:
    canary = parse_metrics(metrics(("android", "4.2", 30, 0)))
    verdict = judge_step(CohortStep.parse("android >=4.2: 5"), POLICY, canary, canary, canary)
    assert verdict.decision == "wait"
    assert "30 of 50" in verdict.reason


def test_traffic_outside_the_cohort_does_not_count_towards_its_floor() -> None:
    canary = parse_metrics(metrics(("ios", "4.2", 500, 0), ("android", "4.1", 500, 0)))
    assert judge_step(CohortStep.parse("android >=4.2: 5"), POLICY, canary, canary, canary).decision == "wait"


def test_a_cohort_is_judged_against_the_same_cohort_of_stable() -> None:
    step = CohortStep.parse("mobile: 25")
    # Stable's web traffic fails a lot, its mobile traffic not: the canary's 5 % is worse.
    stable = parse_metrics(metrics(("ios", "4.2", 1000, 0), ("web", "5.0", 500, 500)))
    canary = parse_metrics(metrics(("ios", "4.2", 95, 5)))
    assert judge_step(step, POLICY, canary, stable, stable).decision == "fail"
    healthy = parse_metrics(metrics(("ios", "4.2", 100, 0)))
    assert judge_step(step, POLICY, healthy, stable, stable).decision == "pass"


def test_a_broken_cell_fails_the_step_though_the_cohort_total_looks_fine() -> None:
    step = CohortStep.parse("all: 50")
    stable = parse_metrics(metrics(("android", "3.2", 100, 0), ("android", "4.2", 2000, 0)))
    # 3.2 answers 20 % 5xx; over all 2100 canary requests that is below 1 %.
    canary = parse_metrics(metrics(("android", "3.2", 16, 4), ("android", "4.2", 2080, 0)))
    assert canary.cohort(step.cohort).error_rate < POLICY.max_error_rate_increase
    verdict = judge_step(step, POLICY, canary, stable, stable)
    assert verdict.decision == "fail"
    assert "android 3.2" in verdict.reason


def test_at_100_percent_stable_is_judged_from_its_traffic_earlier_in_the_rollout() -> None:
    step = CohortStep.parse("all: 100")
    nothing = parse_metrics("")
    earlier = parse_metrics(metrics(("ios", "4.2", 1000, 0)))
    canary = parse_metrics(metrics(("ios", "4.2", 90, 10)))
    assert judge_step(step, POLICY, canary, nothing, earlier).decision == "fail"
    assert judge_step(step, POLICY, parse_metrics(metrics(("ios", "4.2", 100, 0))), nothing, earlier).decision == "pass"


def test_p99_is_compared_only_with_enough_requests_on_both_sides() -> None:
    def with_latency(count: int, le: str) -> str:
        labels = 'route="/v1/home",platform="ios",version="4.2"'
        lines = [f'bff_http_requests_total{{{labels},status="200"}} {count}']
        for bound in ("0.01", "1.0", "+Inf"):
            value = count if float(bound) >= float(le) else 0
            lines.append(f'bff_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {value}')
        return "\n".join(lines) + "\n"

    step = CohortStep.parse("all: 50")
    fast = parse_metrics(with_latency(200, "0.01"))
    assert judge_step(step, POLICY, parse_metrics(with_latency(60, "1.0")), fast, fast).decision == "pass"
    assert judge_step(step, POLICY, parse_metrics(with_latency(150, "1.0")), fast, fast).decision == "fail"
