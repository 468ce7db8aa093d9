"""Tallies are written out exactly as prometheus_client's own metrics would be."""

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shared.telemetry.tallies import CounterTally, GaugeTally, HistogramTally, TallyCollector

BOUNDS = (0.005, 0.01, 0.1, 1.0, 2.5)
OBSERVED = [0.0, 0.005, 0.0051, 0.01, 0.7, 1.0, 2.5, 3.0, 60.0]


def test_a_histogram_tally_matches_prometheus_clients_exposition() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = HistogramTally("x_seconds", "Duration", ["route"], BOUNDS)
    ours.register(TallyCollector([tally]))
    histogram = Histogram("x_seconds", "Duration", ["route"], buckets=BOUNDS, registry=theirs)
    for value in OBSERVED:
        tally.child(("/v1/home",)).observe(value)
        histogram.labels("/v1/home").observe(value)
    assert generate_latest(ours) == _without_created(generate_latest(theirs))


def test_unusual_bounds_are_written_as_prometheus_client_writes_them() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    bounds = (0.5, 2e6, float("inf"))
    tally = HistogramTally("y_bytes", "Size", [], bounds)
    ours.register(TallyCollector([tally]))
    histogram = Histogram("y_bytes", "Size", buckets=bounds, registry=theirs)
    for value in (0.1, 3e6, 1e7):
        tally.child(()).observe(value)
        histogram.observe(value)
    assert generate_latest(ours) == _without_created(generate_latest(theirs))


def test_counter_and_gauge_tallies_match_prometheus_clients_exposition() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    calls = CounterTally("calls", "Calls", ["upstream", "outcome"])
    in_flight = GaugeTally("in_flight", "Being served", {"process": "bff_mobile"})
    ours.register(TallyCollector([calls, in_flight]))
    counter = Counter("calls", "Calls", ["upstream", "outcome"], registry=theirs)
    gauge = Gauge("in_flight", "Being served", ["process"], registry=theirs)
    for outcome in ("success", "success", "timeout"):
        calls.inc(("catalog", outcome))
        counter.labels("catalog", outcome).inc()
    in_flight.value += 2
    in_flight.value -= 1
    gauge.labels("bff_mobile").set(1)
    assert generate_latest(ours) == _without_created(generate_latest(theirs))


def test_bucket_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        HistogramTally("x_seconds", "Duration", [], (0.1, 0.1, 1.0))


def _without_created(text: bytes) -> bytes:
    """prometheus_client adds ``_created`` timestamps to its own counters and histograms."""
    return b"".join(line + b"\n" for line in text.splitlines() if b"_created" not in line)
