"""``bff pii report``: every personal-data field, where it comes from, where it is
stored, and where it is shown — generated from the PII marks on upstream models, the
cache policies and each process's declared exposures, so it cannot drift from the code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.operations import UpstreamSpec
from shared.pii import Exposure
from shared.upstream_set import effective_policies


@dataclass(slots=True)
class InventoryEntry:
    operation: str
    name: str
    cached: str
    logs_and_traces: str = (
        "never written (ids, routes and statuses only); redacted by its mark: as a log member's key,"
        " assigned in free text, and its recent values anywhere in a line"
    )
    shown: list[str] = field(default_factory=list)


def inventory(specs: Sequence[UpstreamSpec], exposures: Mapping[str, Sequence[Exposure]]) -> list[InventoryEntry]:
    entries: dict[tuple[str, str], InventoryEntry] = {}
    for spec in specs:
        policies = effective_policies(spec, None)
        for op in spec.operations:
            cache = policies[op.name].cache
            cached = (
                f"response cache, sealed with AES-256-GCM, scope {cache.scope}, ≤ {cache.ttl + cache.stale_ttl:.0f}s"
                if cache.ttl > 0
                else "not cached"
            )
            for pii in op.pii_fields:
                entries[(op.key, pii)] = InventoryEntry(op.key, pii, cached)
    for process, declared in exposures.items():
        for exposure in declared:
            entry = entries.get((exposure.operation, exposure.source))
            if entry is None:
                raise ValueError(f"{process} declares {exposure.operation}.{exposure.source}, which is not marked PII")
            entry.shown.append(f"{process}: {exposure.where} → {exposure.field}: {exposure.shown}")
    return sorted(entries.values(), key=lambda e: (e.operation, e.name))


def render(entries: Sequence[InventoryEntry]) -> str:
    lines = ["# PII inventory", ""]
    for entry in entries:
        lines.append(f"{entry.operation}.{entry.name}")
        lines.append(f"  stored:  {entry.cached}")
        lines.append(f"  logs:    {entry.logs_and_traces}")
        for shown in entry.shown or ["not shown to any client"]:
            lines.append(f"  shown:   {shown}")
    return "\n".join(lines) + "\n"


__all__ = ["InventoryEntry", "inventory", "render"]
