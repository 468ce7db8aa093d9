"""Judging a canary step from both instances' /metrics, cohort against the same cohort.

A scrape becomes a ``Snapshot``: request counts, 5xx counts and latency buckets per
client cell ``(platform, version bucket)`` (the labels of shared/client_identity.py), with
probes and /metrics left out. ``judge_step`` compares the canary with stable over a step:

* *fail* when, for the step's cohort as a whole or for any one cell of canary traffic with
  at least ``min_cell_requests`` (so app 3.2 breaking does not drown in its step's total),
  the canary's 5xx rate exceeds stable's by more than ``max_error_rate_increase``, or its
  p99 exceeds ``max_p99_ratio`` × stable's (once either is above ``p99_floor``, and both
  sides have ``min_latency_requests``: the p99 of fewer is one slow request);
* *wait* while the step's cohort has fewer canary requests than the step's floor: no data
  is neither a pass nor a fail;
* *pass* otherwise.

Stable's side is its traffic of the same cohort (or cell) in the step; when that is too
little (at 100 % stable serves nobody), stable's since the rollout began; when even that
is empty, the canary's own 5xx rate is held against the allowed increase alone.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from shared.cli.rollout.cohorts import CohortSelector, CohortStep, RolloutPolicy

Cell = tuple[str, str]
Decision = Literal["pass", "fail", "wait"]
NOT_CLIENT_TRAFFIC = frozenset({"/livez", "/readyz", "/metrics"})


@dataclass(frozen=True, slots=True)
class Sample:
    """Request counts and latency buckets (cumulative ``le`` counts) of some traffic."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    def __add__(self, other: Sample) -> Sample:
        buckets = dict(self.buckets)
        for le, count in other.buckets.items():
            buckets[le] = buckets.get(le, 0.0) + count
        return Sample(self.requests + other.requests, self.errors + other.errors, buckets)

    def since(self, earlier: Sample) -> Sample:
        return Sample(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            {le: count - earlier.buckets.get(le, 0.0) for le, count in self.buckets.items()},
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float:
        """The upper bound of the bucket holding the 99th percentile (inf if beyond all)."""
        total = self.buckets.get(float("inf"), 0.0)
        if total <= 0:
            return 0.0
        for le in sorted(self.buckets):
            if self.buckets[le] >= 0.99 * total:
                return le
        return float("inf")

    def describe(self) -> str:
        p99 = f"{self.p99:.3f}s" if self.requests else "-"
        return f"{self.requests:.0f} req, {self.errors:.0f} 5xx, p99 {p99}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One instance's client traffic per cell, cumulative since it started."""

    cells: dict[Cell, Sample] = field(default_factory=dict)

    def since(self, earlier: Snapshot) -> Snapshot:
        return Snapshot({cell: sample.since(earlier.cells.get(cell, Sample())) for cell, sample in self.cells.items()})

    def cohort(self, selector: CohortSelector) -> Sample:
        total = Sample()
        for (platform, version), sample in self.cells.items():
            if selector.matches(platform, version):
                total = total + sample
        return total

    def cell(self, cell: Cell) -> Sample:
        return self.cells.get(cell, Sample())


def parse_metrics(text: str) -> Snapshot:
    """Per-cell request totals and duration buckets from a process's /metrics text."""
    requests: dict[Cell, float] = {}
    errors: dict[Cell, float] = {}
    buckets: dict[Cell, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("route", "") in NOT_CLIENT_TRAFFIC:
                continue
            cell = (labels.get("platform", "unknown"), labels.get("version", "unknown"))
            if sample.name == "bff_http_requests_total":
                requests[cell] = requests.get(cell, 0.0) + sample.value
                if labels.get("status", "").startswith("5"):
                    errors[cell] = errors.get(cell, 0.0) + sample.value
            elif sample.name == "bff_http_request_duration_seconds_bucket":
                le = float(labels["le"])
                by_le = buckets.setdefault(cell, {})
                by_le[le] = by_le.get(le, 0.0) + sample.value
    cells = set(requests) | set(buckets)
    return Snapshot({c: Sample(requests.get(c, 0.0), errors.get(c, 0.0), buckets.get(c, {})) for c in cells})


def scrape(port: int, host: str = "127.0.0.1") -> Snapshot:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        return parse_metrics(response.read().decode())


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    #: The step's cohort on each side, over the step.
    canary: Sample
    stable: Sample


def worse(canary: Sample, stable: Sample, policy: RolloutPolicy) -> str | None:
    """Why ``canary`` is worse than ``stable`` by the policy's measures, or ``None``."""
    baseline = stable.error_rate if stable.requests else 0.0
    if canary.error_rate > baseline + policy.max_error_rate_increase:
        return f"canary 5xx rate {canary.error_rate:.1%} vs stable {baseline:.1%}"
    if min(canary.requests, stable.requests) >= policy.min_latency_requests:
        slowest = max(canary.p99, stable.p99)
        if slowest > policy.p99_floor and stable.p99 > 0 and canary.p99 > policy.max_p99_ratio * stable.p99:
            return f"canary p99 {canary.p99:.3f}s vs stable {stable.p99:.3f}s"
    return None


def judge_step(
    step: CohortStep,
    policy: RolloutPolicy,
    canary: Snapshot,
    stable: Snapshot,
    stable_overall: Snapshot,
) -> Verdict:
    """The verdict on ``step`` so far: ``canary`` and ``stable`` over the step,
    ``stable_overall`` since the rollout began (stable's baseline when the step gives it
    too little traffic of its own)."""

    def stable_side(step_sample: Sample, overall_sample: Sample) -> Sample:
        return step_sample if step_sample.requests >= policy.min_cell_requests else overall_sample

    canary_cohort = canary.cohort(step.cohort)
    stable_cohort = stable.cohort(step.cohort)
    for cell, sample in sorted(canary.cells.items()):
        if sample.requests < policy.min_cell_requests:
            continue
        why = worse(sample, stable_side(stable.cell(cell), stable_overall.cell(cell)), policy)
        if why is not None:
            return Verdict("fail", f"cohort {cell[0]} {cell[1]}: {why}", canary_cohort, stable_cohort)
    floor = policy.step_floor(step)
    if canary_cohort.requests < floor:
        return Verdict(
            "wait",
            f"canary served {canary_cohort.requests:.0f} of {floor} requests needed",
            canary_cohort,
            stable_cohort,
        )
    why = worse(canary_cohort, stable_side(stable_cohort, stable_overall.cohort(step.cohort)), policy)
    if why is not None:
        return Verdict("fail", f"cohort {step.cohort}: {why}", canary_cohort, stable_cohort)
    return Verdict("pass", f"{canary_cohort.requests:.0f} canary requests within bounds", canary_cohort, stable_cohort)


__all__ = [
    "Cell",
    "Decision",
    "Sample",
    "Snapshot",
    "Verdict",
    "judge_step",
    "parse_metrics",
    "scrape",
    "worse",
]
