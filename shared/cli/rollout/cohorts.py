"""Cohort canary policies: which clients get the new version, and how many of them.

A policy is a list of steps; each step is a cohort selector and a weight inside it::

    android >=4.2: 5%      Android apps 4.2 and later: 5 % of their users
    mobile: 25%            iOS and Android, any version: 25 %
    3.*: 50%               app versions 3.0 up to (not including) 4.0, any platform
    all: 100%              everyone (a policy ends here, or it cannot promote)

A selector is ``all``, or platforms (``ios``, ``android``, ``web``, ``mobile`` = ios+android,
joined by ``+``) and/or a version range on ``X-App-Version``'s major.minor (``>=4.2``,
``<5.0``, ``>=4.2,<5``, ``4.*``, ``4.2``); a version range never matches a request without
a valid version. ``min=N`` after the weight sets the step's own request floor.

Steps are cumulative: at step *k* a request goes to the canary when, for any step up to
*k* whose cohort it is in, its user's bucket (a hash of the user into [0, 100)) is below
that step's weight. So a user only ever moves stable → canary as a rollout goes on,
whatever the order of the steps; only a rollback moves anyone back, and it moves everyone.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from shared.client_identity import PLATFORMS, Version, parse_version
from shared.policy import FrozenModel

_ALIASES = {"mobile": ("ios", "android"), "all": PLATFORMS}
_STEP = re.compile(r"^\s*(?P<cohort>[^:]+):\s*(?P<weight>\d{1,3})\s*%?\s*(?:min=(?P<min>\d+))?\s*$")
_BOUND = re.compile(r"^(>=|<|==)?(\d{1,3})(?:\.(\d{1,3}|\*))?$")


class CohortSelector(FrozenModel):
    """Platforms (``None``: any) and a version range ``[min_version, below_version)``."""

    platforms: frozenset[str] | None = None
    min_version: Version | None = None
    below_version: Version | None = None

    @classmethod
    def parse(cls, text: str) -> CohortSelector:
        """``"android >=4.2"``, ``"mobile"``, ``"3.*"``, ``"all"`` (see the module docstring)."""
        platforms: set[str] | None = None
        low: Version | None = None
        high: Version | None = None
        words = text.replace(", ", ",").split()
        if not words:
            raise ValueError("a cohort is empty; write `all`, platforms (ios+android) and/or versions (>=4.2)")
        for word in words:
            if word[0].isalpha():
                for name in word.lower().split("+"):
                    if name not in PLATFORMS and name not in _ALIASES:
                        raise ValueError(
                            f"unknown platform {name!r} in cohort {text!r}; use {', '.join(PLATFORMS)}, mobile or all"
                        )
                    chosen = _ALIASES.get(name, (name,))
                    platforms = (platforms or set()) | set(chosen) if name != "all" else platforms
                continue
            for bound in word.split(","):
                bound_low, bound_high = _version_bounds(bound, text)
                low = bound_low if low is None or (bound_low is not None and bound_low > low) else low
                high = bound_high if high is None or (bound_high is not None and bound_high < high) else high
        if low is not None and high is not None and low >= high:
            raise ValueError(f"cohort {text!r} selects no version: {_version(low)} is not below {_version(high)}")
        return cls(platforms=frozenset(platforms) if platforms else None, min_version=low, below_version=high)

    @property
    def everyone(self) -> bool:
        return self.platforms is None and self.min_version is None and self.below_version is None

    def matches(self, platform: str, version_bucket: str) -> bool:
        """Whether a request labelled ``(platform, version_bucket)`` is in the cohort."""
        if self.platforms is not None and platform not in self.platforms:
            return False
        if self.min_version is None and self.below_version is None:
            return True
        version = parse_version(version_bucket)
        if version is None:
            return False
        if self.min_version is not None and version < self.min_version:
            return False
        return self.below_version is None or version < self.below_version

    def __str__(self) -> str:
        if self.everyone:
            return "all"
        parts = []
        if self.platforms is not None:
            names = sorted(self.platforms, key=PLATFORMS.index)
            parts.append("mobile" if names == ["ios", "android"] else "+".join(names))
        bounds = []
        if self.min_version is not None:
            bounds.append(f">={_version(self.min_version)}")
        if self.below_version is not None:
            bounds.append(f"<{_version(self.below_version)}")
        if bounds:
            parts.append(",".join(bounds))
        return " ".join(parts)


def _version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _version_bounds(bound: str, text: str) -> tuple[Version | None, Version | None]:
    match = _BOUND.fullmatch(bound)
    if match is None:
        raise ValueError(f"cannot read the version bound {bound!r} in cohort {text!r}; write >=4.2, <5.0, 4.* or 4.2")
    operator, major_text, minor_text = match.groups()
    major = int(major_text)
    if minor_text in (None, "*"):
        if operator is None or operator == "==":  # 4 or 4.*: all of 4.x
            return (major, 0), (major + 1, 0)
        return ((major, 0), None) if operator == ">=" else (None, (major, 0))
    version = (major, int(minor_text))
    if operator == ">=":
        return version, None
    if operator == "<":
        return None, version
    return version, (major, version[1] + 1)  # 4.2: exactly that major.minor


def _selector(value: Any) -> Any:
    return CohortSelector.parse(value) if isinstance(value, str) else value


Cohort = Annotated[CohortSelector, BeforeValidator(_selector), PlainSerializer(str)]


class CohortStep(FrozenModel):
    """One step: the cohort, the share of its users on the canary, and its request floor."""

    cohort: Cohort
    weight: int = Field(ge=0, le=100)
    #: Canary requests of the cohort needed before the step is judged (None: the policy's).
    min_requests: int | None = Field(default=None, ge=1)

    @classmethod
    def parse(cls, text: str) -> CohortStep:
        """``"android >=4.2: 5%"``, ``"all: 100"``, ``"mobile: 25% min=40"``; a bare ``"25"`` is ``all: 25``."""
        if text.strip().isdigit():
            text = f"all: {text.strip()}"
        match = _STEP.fullmatch(text)
        if match is None:
            raise ValueError(f"cannot read the step {text!r}; write `<cohort>: <weight>%`, e.g. `android >=4.2: 5%`")
        minimum = match["min"]
        return cls(
            cohort=CohortSelector.parse(match["cohort"]),
            weight=int(match["weight"]),
            min_requests=int(minimum) if minimum else None,
        )

    def __str__(self) -> str:
        return f"{self.cohort}: {self.weight}%"


def _step(value: Any) -> Any:
    return CohortStep.parse(value) if isinstance(value, str) else value


class RolloutPolicy(FrozenModel):
    """How a canary is rolled out and judged (``bff rollout``; docs/sre-guide.md)."""

    steps: tuple[Annotated[CohortStep, BeforeValidator(_step)], ...] = Field(
        default=("android >=4.2: 5%", "mobile: 25%", "all: 50%", "all: 100%"),
        min_length=1,
        max_length=8,
        validate_default=True,
    )
    #: How often both instances' /metrics are read during a step.
    poll_seconds: float = Field(default=2.0, gt=0)
    #: Canary requests of the step's cohort needed before it is judged (a step may say more).
    min_requests: int = Field(default=100, ge=1)
    #: Requests a single (platform, version) cell of the canary needs to be judged on its own,
    #: so that a change breaking only app 3.2 does not drown in its step's total.
    min_cell_requests: int = Field(default=20, ge=1)
    #: A step whose cohort stays below its floor this long gets ``on_no_data``.
    max_wait_seconds: float = Field(default=120.0, gt=0)
    #: ``abort`` rolls back; ``hold`` stops where it is, the step's canary share unchanged,
    #: for a person to decide. Never a pass: no data is not good news.
    on_no_data: Literal["abort", "hold"] = "abort"
    #: The canary fails when its 5xx rate exceeds stable's, same cohort, by more than this.
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    #: ... or its p99 exceeds this multiple of stable's (once either is above ``p99_floor``).
    max_p99_ratio: float = Field(default=1.5, gt=1)
    p99_floor: float = Field(default=0.05, ge=0)
    #: Requests a side needs before its p99 is compared: the p99 of fewer than 100 is their
    #: maximum, so one cold first request (an empty cache, a new connection) would decide.
    min_latency_requests: int = Field(default=100, ge=1)
    #: API versions still supported: a breaking OpenAPI change under one of these aborts
    #: the rollout before any traffic.
    supported_api_prefixes: tuple[str, ...] = ("/v1",)

    @model_validator(mode="after")
    def _ends_with_everyone(self) -> RolloutPolicy:
        last = self.steps[-1]
        if not (last.cohort.everyone and last.weight == 100):
            raise ValueError(f"the last step must be `all: 100%` to promote, got `{last}`")
        return self

    def step_floor(self, step: CohortStep) -> int:
        return step.min_requests if step.min_requests is not None else self.min_requests


def parse_steps(text: str) -> tuple[CohortStep, ...]:
    """``"android >=4.2: 5; mobile: 25; all: 100"`` or ``"5,25,50,100"`` (all of them ``all``)."""
    separator = ";" if ";" in text or ":" in text else ","
    return tuple(CohortStep.parse(part) for part in text.split(separator) if part.strip())


__all__ = ["Cohort", "CohortSelector", "CohortStep", "RolloutPolicy", "parse_steps"]
