"""Which app is calling: ``X-Client-Platform`` and ``X-App-Version``, as bounded labels.

Apps send ``X-Client-Platform: ios | android | web`` and ``X-App-Version: <semver>``
(``4.2.1``, ``4.2``, ``5.0.0-beta.1+build.7``). Both are optional and never refused: a value
that does not parse (or a header sent twice) is ignored for routing, as the gateway's
rules in shared/cli/rollout/gateway.py ignore it too, and counted. Each request gets one cohort label
pair, the same in the process's metrics and in the gateway's routing:

- platform: ``ios``, ``android``, ``web``; ``unknown`` when absent, ``other`` when invalid;
- version bucket: ``major.minor`` (``4.2``); ``unknown`` when absent, ``other`` when
  invalid or when ``max_version_buckets`` distinct buckets are already in use (a bound on
  metric cardinality: a process sees the handful of app versions alive, not thousands).

::

    cohorts = CohortLabels()
    cohorts.label(b"Android", b"4.2.1")   # ("android", "4.2"), the same tuple every time
    cohorts.label(None, b"4.x")            # ("unknown", "other"); cohorts.invalid["version"] == 1
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

PLATFORM_HEADER = "X-Client-Platform"
VERSION_HEADER = "X-App-Version"
PLATFORMS = ("ios", "android", "web")
UNKNOWN = "unknown"
OTHER = "other"
#: The labels of a request that names neither (probes, scrapes, most tools).
ANONYMOUS = (UNKNOWN, UNKNOWN)
#: A header sent more than once: as ambiguous as an invalid value, and treated the same.
REPEATED = b"\x00repeated"
#: The version syntax the gateway accepts too (its ACL regex is this one): major and minor
#: of 1 to 3 digits, an optional patch, an optional pre-release or build suffix.
VERSION_PATTERN = r"^[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,6})?([-+][0-9A-Za-z.+-]{1,64})?$"
_VERSION = re.compile(VERSION_PATTERN.encode())
#: Distinct raw header values remembered with their label (beyond: parsed each time).
_RAW_CACHE_SIZE = 512

Version = tuple[int, int]


def parse_version(raw: str | bytes) -> Version | None:
    """``(major, minor)`` of an ``X-App-Version`` value, or ``None`` if it is not one."""
    value = raw.encode("latin-1") if isinstance(raw, str) else raw
    if _VERSION.fullmatch(value) is None:
        return None
    major, minor = value.split(b".", 2)[:2]
    return int(major), int(re.split(rb"[-+]", minor, maxsplit=1)[0])


def version_bucket(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


class CohortLabels(Collector):
    """Turns the two raw header values of a request into its ``(platform, bucket)`` label
    tuple: a dictionary lookup once a value has been seen, so the hot path allocates
    nothing; ``invalid`` counts the values ignored, per header, and is exposed as
    ``bff_client_identity_invalid_total{header}`` when registered with a registry."""

    def __init__(self, max_version_buckets: int = 64) -> None:
        self.max_version_buckets = max_version_buckets
        self.invalid = {"platform": 0, "version": 0}
        #: raw platform -> raw version -> (labels, platform invalid, version invalid); nested
        #: rather than keyed by a pair, so a lookup builds no key tuple.
        self._known: dict[bytes | None, dict[bytes | None, tuple[tuple[str, str], bool, bool]]] = {}
        self._remembered = 0
        self._buckets: set[str] = set()

    def label(self, platform: bytes | None, version: bytes | None) -> tuple[str, str]:
        versions = self._known.get(platform)
        known = None if versions is None else versions.get(version)
        if known is None:
            known = self._classify(platform, version)
            if self._remembered < _RAW_CACHE_SIZE:
                self._known.setdefault(platform, {})[version] = known
                self._remembered += 1
        pair, bad_platform, bad_version = known
        if bad_platform:
            self.invalid["platform"] += 1
        if bad_version:
            self.invalid["version"] += 1
        return pair

    def _classify(self, platform: bytes | None, version: bytes | None) -> tuple[tuple[str, str], bool, bool]:
        labels = (self._platform(platform), self._version(version))
        bad_version = version is not None and (version == REPEATED or _VERSION.fullmatch(version) is None)
        return labels, labels[0] == OTHER, bad_version

    def _platform(self, raw: bytes | None) -> str:
        if raw is None:
            return UNKNOWN
        name = raw.decode("latin-1").lower()
        return name if name in PLATFORMS else OTHER

    def _version(self, raw: bytes | None) -> str:
        if raw is None:
            return UNKNOWN
        version = parse_version(raw)
        if version is None:
            return OTHER
        bucket = version_bucket(version)
        if bucket not in self._buckets:
            if len(self._buckets) >= self.max_version_buckets:
                return OTHER  # valid, but past the cardinality bound: not counted as invalid
            self._buckets.add(bucket)
        return bucket

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "bff_client_identity_invalid",
            "X-Client-Platform / X-App-Version values ignored (invalid or repeated)",
            labels=["header"],
        )
        for header, count in self.invalid.items():
            family.add_metric([header], count)
        yield family


def openapi_parameters() -> list[dict[str, Any]]:
    """The two headers as optional OpenAPI parameters of every operation. Their schemas
    accept any string, as the process does: a value outside the documented ones is
    ignored, not refused, so the document must not promise a 400 for it."""
    return [
        {
            "name": PLATFORM_HEADER,
            "in": "header",
            "required": False,
            "description": "The calling app's platform: `ios`, `android` or `web`. Optional; canary rollouts "
            "route and are judged by it. Any other value (or the header sent twice) is ignored, never refused.",
            "schema": {"type": "string", "examples": list(PLATFORMS)},
        },
        {
            "name": VERSION_HEADER,
            "in": "header",
            "required": False,
            "description": "The calling app's version, semver: `major.minor[.patch][-pre][+build]` (`4.2.1`, "
            "`4.2`, `5.0.0-beta.1`). Optional; canary rollouts route and are judged by its major.minor. A value "
            "that does not parse (or the header sent twice) is ignored, never refused.",
            "schema": {"type": "string", "examples": ["4.2.1", "5.0.0-beta.1"]},
        },
    ]


__all__ = [
    "ANONYMOUS",
    "OTHER",
    "PLATFORMS",
    "PLATFORM_HEADER",
    "REPEATED",
    "UNKNOWN",
    "VERSION_HEADER",
    "VERSION_PATTERN",
    "CohortLabels",
    "Version",
    "openapi_parameters",
    "parse_version",
    "version_bucket",
]
