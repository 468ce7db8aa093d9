"""Counters and histograms for the hot path, kept as plain numbers and turned into
Prometheus families only when /metrics is scraped.

prometheus_client's ``Counter.inc`` and ``Histogram.observe`` are thread-safe: each takes
a lock and checks the metric is observable, about ten Python calls an update. A BFF
process updates its request and upstream-call metrics from one thread, its event loop,
and /metrics is answered on that same loop, so none of that is needed: here an update
is a dictionary entry or a list slot incremented. (Do not update a tally from another
thread.) The families come out as prometheus_client's own would: same names, ``_total``
on counters, cumulative ``le`` buckets, ``_count`` and ``_sum``; only the ``_created``
series are not written (nothing here reads them)::

    calls = CounterTally("bff_upstream_calls", "Upstream call attempts", ["upstream", "outcome"])
    calls.inc(("catalog", "success"))
    duration = HistogramTally("bff_upstream_call_duration_seconds", "…", ["upstream"], LATENCY_BUCKETS)
    duration.child(("catalog",)).observe(0.012)
    registry.register(TallyCollector([calls, duration]))
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _float_to_go_string


def _go_float(bound: float) -> str:
    """A bucket bound as prometheus_client writes ``le`` (``0.005``, ``1.0``, ``2e+06``)."""
    text: str = _float_to_go_string(bound)  # type: ignore[no-untyped-call]
    return text


class CounterTally:
    """A labelled counter: ``inc(label_values)``."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...], amount: float = 1) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in self.values.items():
            family.add_metric(list(labels), value)
        return family


class GaugeTally:
    """A gauge with constant labels (one series), moved up and down: ``value += 1``."""

    def __init__(self, name: str, documentation: str, labels: dict[str, str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.value = 0.0

    def family(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        family.add_metric(list(self.labels.values()), self.value)
        return family


class HistogramChild:
    """One label set of a histogram: its bucket counts (not cumulative) and sum."""

    __slots__ = ("bounds", "buckets", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, as Prometheus' "le" (less than or equal).
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.sum += value


class HistogramTally:
    """A labelled histogram: ``child(label_values).observe(value)``; keep the child."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float]) -> None:
        finite = [float(bound) for bound in bounds if bound != math.inf]  # +Inf is always there
        if finite != sorted(set(finite)):
            raise ValueError(f"histogram {name}: bucket bounds must be strictly increasing, got {list(bounds)}")
        self.name = name
        self.documentation = documentation
        self.labelnames = list(labelnames)
        self.bounds = tuple(finite)
        self.children: dict[tuple[str, ...], HistogramChild] = {}

    def child(self, labels: tuple[str, ...]) -> HistogramChild:
        child = self.children.get(labels)
        if child is None:
            child = self.children[labels] = HistogramChild(self.bounds)
        return child

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        les = [_go_float(bound) for bound in self.bounds] + ["+Inf"]
        for labels, child in self.children.items():
            cumulative, buckets = 0, []
            for le, count in zip(les, child.buckets, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, child.sum)
        return family


Tally = CounterTally | GaugeTally | HistogramTally


class TallyCollector(Collector):
    """Exposes tallies to a prometheus_client registry."""

    def __init__(self, tallies: Sequence[Tally]) -> None:
        self._tallies = list(tallies)

    def collect(self) -> Iterator[Metric]:
        for tally in self._tallies:
            yield tally.family()


__all__ = ["CounterTally", "GaugeTally", "HistogramChild", "HistogramTally", "Tally", "TallyCollector"]
