"""Resolving registered upstreams against the process config into live clients.

Code defaults (the spec's policy, then each operation's) are overlaid by the config's
upstream-wide policy and then its per-operation policy. Config naming an upstream,
operation or region that does not exist is refused here, with the key named.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from shared.cache.response_cache import ResponseCache
from shared.errors import ConfigError
from shared.http.transport import Transport
from shared.operations import UpstreamSpec
from shared.policy import CallPolicy
from shared.settings import ProcessSettings, UpstreamSettings
from shared.upstream_client import UNOBSERVED, Region, UpstreamClient, UpstreamConfig, UpstreamObserver


class UpstreamSet(Mapping[str, UpstreamClient]):
    """Every upstream client of a process, sharing one transport; owned by the lifespan."""

    def __init__(
        self, clients: Mapping[str, UpstreamClient], transport: Transport, cache: ResponseCache | None = None
    ) -> None:
        self._clients = dict(clients)
        self._transport = transport
        self.cache = cache

    def __getitem__(self, name: str) -> UpstreamClient:
        return self._clients[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    def reconfigure(self, settings: ProcessSettings, specs: Sequence[UpstreamSpec]) -> None:
        """Apply new settings to every client, or to none: everything is resolved and
        checked first (``ConfigError`` leaves the running configuration untouched)."""
        check_upstream_config(settings, specs)
        resolved = {spec.name: upstream_config(spec, settings.upstreams.get(spec.name)) for spec in specs}
        for name, config in resolved.items():
            if name in self._clients:
                self._clients[name].reconfigure(config)

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.aclose()
        await self._transport.aclose()


def effective_policies(spec: UpstreamSpec, config: UpstreamSettings | None) -> dict[str, CallPolicy]:
    """Operation name → the policy in force, after code defaults and config overrides."""
    upstream_override = config.policy if config else None
    policies = {}
    for op in spec.operations:
        policy = spec.policy.overlaid(op.policy).overlaid(upstream_override)
        if config and op.name in config.operations:
            policy = policy.overlaid(config.operations[op.name])
        policies[op.name] = policy
    return policies


def resolve_regions(spec: UpstreamSpec, config: UpstreamSettings | None) -> list[Region]:
    urls = dict(config.regions) if config and config.regions else dict(spec.local_regions)
    order = config.failover_order if config and config.failover_order else list(urls)
    return [Region(name, urls[name].rstrip("/")) for name in order]


def check_upstream_config(settings: ProcessSettings, specs: Sequence[UpstreamSpec]) -> None:
    """Refuse config that names upstreams, operations or regions that do not exist."""
    known = {spec.name: spec for spec in specs}
    problems: list[tuple[str, str]] = []
    for name, config in settings.upstreams.items():
        spec = known.get(name)
        if spec is None:
            problems.append((f"upstreams.{name}", f"unknown upstream; registered: {sorted(known)}"))
            continue
        for op_name in config.operations:
            if op_name not in spec.operation_names:
                problems.append(
                    (f"upstreams.{name}.operations.{op_name}", f"unknown operation; {name} has {spec.operation_names}")
                )
        if config.failover_order and not config.regions:
            unknown = [r for r in config.failover_order if r not in spec.local_regions]
            if unknown:
                problems.append(
                    (
                        f"upstreams.{name}.failover_order",
                        f"unknown region(s) {unknown}; regions are {sorted(spec.local_regions)}",
                    )
                )
        try:
            effective_policies(spec, config)
        except ValueError as exc:
            problems.append((f"upstreams.{name}", f"policy overrides conflict: {exc}"))
    if problems:
        raise ConfigError("upstream configuration", problems)


def upstream_config(spec: UpstreamSpec, config: UpstreamSettings | None) -> UpstreamConfig:
    """The effective configuration of one upstream: regions, and policies after overrides."""
    return UpstreamConfig(
        regions=tuple(resolve_regions(spec, config)),
        policies=effective_policies(spec, config),
        upstream_policy=spec.policy.overlaid(config.policy if config else None),
    )


def build_upstream_set(
    settings: ProcessSettings,
    specs: Sequence[UpstreamSpec],
    transport: Transport,
    cache: ResponseCache | None = None,
    observer: UpstreamObserver = UNOBSERVED,
) -> UpstreamSet:
    check_upstream_config(settings, specs)
    clients = {
        spec.name: UpstreamClient(
            spec.name,
            upstream_config(spec, settings.upstreams.get(spec.name)),
            transport,
            cache=cache,
            observer=observer,
        )
        for spec in specs
    }
    return UpstreamSet(clients, transport, cache)


__all__ = [
    "UpstreamSet",
    "build_upstream_set",
    "check_upstream_config",
    "effective_policies",
    "resolve_regions",
    "upstream_config",
]
