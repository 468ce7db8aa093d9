"""The registry of upstream services.

Built-in upstreams are listed explicitly below. A package outside this repository
registers its own by exposing an ``UpstreamSpec`` under the ``bff.upstreams`` entry-point
group in its packaging metadata::

    [project.entry-points."bff.upstreams"]
    loyalty = "loyalty_client:SPEC"
"""

from __future__ import annotations

from importlib.metadata import entry_points

from shared import UpstreamSpec
from upstreams import accounts, catalog, identity, inventory, orders, recommendations

ENTRY_POINT_GROUP = "bff.upstreams"
BUILTIN: tuple[UpstreamSpec, ...] = (
    accounts.SPEC,
    catalog.SPEC,
    identity.SPEC,
    inventory.SPEC,
    orders.SPEC,
    recommendations.SPEC,
)


def registered_upstreams() -> tuple[UpstreamSpec, ...]:
    """Built-in upstreams, then those registered by entry point, each name once."""
    specs = {spec.name: spec for spec in BUILTIN}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, UpstreamSpec):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not an UpstreamSpec")
        if spec.name in specs:
            raise ValueError(f"upstream {spec.name!r} is registered twice (entry point {entry.value})")
        specs[spec.name] = spec
    return tuple(specs.values())


__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "registered_upstreams"]
