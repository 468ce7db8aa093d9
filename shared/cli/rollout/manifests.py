"""A cohort rollout policy (shared/cli/rollout/cohorts.py) rendered for Kubernetes: the Argo Rollouts
canary steps and the cohort arguments of the analysis (deploy/k8s/*/rollout.yaml).

What each part can express (docs/sre-guide.md, "Cohort canaries", has the whole table):

- ``all: N%`` → ``setWeight: N``: the Gateway API plugin sets the HTTPRoute's weights
  (per request, not per user: Gateway API has no user-keyed split);
- ``<cohort>: 100%`` → ``setHeaderRoute``: the plugin adds an HTTPRoute rule sending the
  cohort's requests (``X-Client-Platform`` exact or regex, ``X-App-Version`` regex) to the
  canary; every user of the cohort is on it, so it is sticky by construction;
- ``<cohort>: N%`` below 100 is refused: Argo Rollouts ignores a weight inside a header
  route (the gap Flagger #1514 and Argo Rollouts #2726 describe). Only the local HAProxy
  gateway (shared/cli/rollout/gateway.py) does weights inside cohorts, sticky per user.

Each partial step is followed by the analysis of its cohort: ``platforms`` and
``versions`` are regexes over the metric labels (PromQL anchors ``=~``).
"""

from __future__ import annotations

from typing import Any

from shared.cli.rollout.cohorts import CohortSelector, CohortStep, RolloutPolicy

_MAX = 999  # major and minor have at most 3 digits (shared/client_identity.py)
ANY = ".+"


def _same_length(low: str, high: str) -> list[str]:
    """Regex alternatives for the integers low..high, both of the same number of digits."""
    if low == high:
        return [low]
    if len(low) == 1:
        return [f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_length(low[1:], high[1:])]
    tail = len(low) - 1
    parts: list[str] = []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * tail:
        parts += [low[0] + rest for rest in _same_length(low[1:], "9" * tail)]
        first += 1
    upper: list[str] = []
    if high[1:] != "9" * tail:
        upper = [high[0] + rest for rest in _same_length("0" * tail, high[1:])]
        last -= 1
    if first <= last:
        parts.append((str(first) if first == last else f"[{first}-{last}]") + "[0-9]" * tail)
    return parts + upper


def int_range_regex(low: int, high: int) -> str:
    """A regex matching exactly the decimal integers ``low..high`` (no leading zeros)."""
    if not 0 <= low <= high:
        raise ValueError(f"not a range: {low}..{high}")
    parts: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        start = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        end = min(high, 10**digits - 1)
        if start <= end:
            parts += _same_length(str(start), str(end))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def version_regex(selector: CohortSelector) -> str:
    """A regex over ``major.minor`` version labels for the selector's range (``.+``: any)."""
    if selector.min_version is None and selector.below_version is None:
        return ANY
    low = selector.min_version or (0, 0)
    below = selector.below_version or (_MAX + 1, 0)
    last = (below[0], below[1] - 1) if below[1] > 0 else (below[0] - 1, _MAX)
    pieces: list[str] = []
    if low[0] == last[0]:
        pieces.append(f"{low[0]}\\.{int_range_regex(low[1], last[1])}")
    else:
        pieces.append(f"{low[0]}\\.{int_range_regex(low[1], _MAX)}")
        whole_last = last[1] == _MAX  # the last major in full: one range with those between
        top = last[0] if whole_last else last[0] - 1
        if low[0] + 1 <= top:
            pieces.append(f"{int_range_regex(low[0] + 1, top)}\\.{int_range_regex(0, _MAX)}")
        if not whole_last:
            pieces.append(f"{last[0]}\\.{int_range_regex(0, last[1])}")
    return pieces[0] if len(pieces) == 1 else "(?:" + "|".join(pieces) + ")"


def platform_regex(selector: CohortSelector) -> str:
    return ANY if selector.platforms is None else "|".join(sorted(selector.platforms))


def header_matches(selector: CohortSelector) -> list[dict[str, Any]]:
    """The ``setHeaderRoute`` matches (all must hold) that select the cohort's requests."""
    matches: list[dict[str, Any]] = []
    if selector.platforms is not None:
        names = sorted(selector.platforms)
        value = {"exact": names[0]} if len(names) == 1 else {"regex": f"^(?:{'|'.join(names)})$"}
        matches.append({"headerName": "X-Client-Platform", "headerValue": value})
    if selector.min_version is not None or selector.below_version is not None:
        # The raw header: the major.minor range, then any patch and pre-release/build suffix.
        regex = f"^{version_regex(selector)}(?:\\.[0-9]{{1,6}})?(?:[-+][0-9A-Za-z.+-]{{1,64}})?$"
        matches.append({"headerName": "X-App-Version", "headerValue": {"regex": regex}})
    return matches


def analysis_step(step: CohortStep, process: str, max_p99_seconds: str) -> dict[str, Any]:
    return {
        "analysis": {
            "templates": [{"templateName": "bff-canary-health"}],
            "args": [
                {"name": "namespace", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "process", "value": f"bff_{process}"},
                {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "platforms", "value": platform_regex(step.cohort)},
                {"name": "versions", "value": version_regex(step.cohort)},
                {"name": "max-p99-seconds", "value": max_p99_seconds},
            ],
        }
    }


def managed_route(number: int) -> str:
    return f"cohort-{number}"


def argo_steps(policy: RolloutPolicy, process: str, max_p99_seconds: str) -> list[dict[str, Any]]:
    """The Rollout's ``strategy.canary.steps`` for ``policy``; ``ValueError`` for a step
    Argo Rollouts cannot express (a weight below 100 inside a cohort)."""
    steps: list[dict[str, Any]] = []
    last = len(policy.steps)
    for number, step in enumerate(policy.steps, start=1):
        if step.cohort.everyone:
            steps.append({"setWeight": step.weight})
        elif step.weight == 100:
            route = {"name": managed_route(number), "match": header_matches(step.cohort)}
            steps.append({"setHeaderRoute": route})
        else:
            raise ValueError(
                f"step {number} `{step}`: Argo Rollouts cannot weight inside a header route; in Kubernetes a "
                "cohort step takes its whole cohort (`<cohort>: 100%`, so choose a narrow one) and `all: N%` the rest"
            )
        if number < last:  # the last step (all: 100%) promotes
            steps.append(analysis_step(step, process, max_p99_seconds))
    return steps


def managed_routes(policy: RolloutPolicy) -> list[dict[str, str]]:
    """The ``trafficRouting.managedRoutes`` the header-route steps need (in step order)."""
    return [{"name": managed_route(n)} for n, step in enumerate(policy.steps, start=1) if not step.cohort.everyone]


__all__ = [
    "analysis_step",
    "argo_steps",
    "header_matches",
    "int_range_regex",
    "managed_routes",
    "platform_regex",
    "version_regex",
]
