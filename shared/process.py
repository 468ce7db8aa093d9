"""What the ``bff`` command needs to know about a BFF process, found by entry point.

Each process package exposes a ``ProcessSpec`` under the ``bff.processes`` entry-point
group, so the command line and the local stack stay generic: ``shared`` never imports
``bff_mobile`` or ``bff_web``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from shared.operations import UpstreamSpec
from shared.pii import Exposure
from shared.settings import ProcessSettings
from shared.types import ASGIApp

PROCESS_GROUP = "bff.processes"


@dataclass(frozen=True, slots=True)
class BrowserClient:
    """A browser client of a process, as static files, that ``bff stack`` serves on an
    origin of its own (``http://127.0.0.1:<port>``), so the browser applies CORS to it as
    to any web app: the process's config lists that origin in ``server.cors_origins``."""

    directory: Path
    port: int


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str
    description: str
    settings_model: type[ProcessSettings]
    #: ``create_app(settings, config_path)``: the config file is watched for hot reload.
    create_app: Callable[[Any, Path | None], ASGIApp]
    upstreams: Callable[[], Sequence[UpstreamSpec]]
    #: The config file used when neither --config nor BFF_CONFIG names one.
    default_config: Path | None
    openapi: Callable[[], dict[str, Any]]
    #: Where this process shows personal data, for ``bff pii report``.
    pii_exposures: Callable[[], Sequence[Exposure]] = tuple
    #: A reference browser client the local stack serves beside the process.
    browser_client: BrowserClient | None = None


def discover_processes() -> dict[str, ProcessSpec]:
    """Every process registered under the ``bff.processes`` entry-point group."""
    found = {}
    for entry in entry_points(group=PROCESS_GROUP):
        spec = entry.load()
        if not isinstance(spec, ProcessSpec):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a ProcessSpec")
        found[spec.name] = spec
    return dict(sorted(found.items()))


__all__ = ["PROCESS_GROUP", "BrowserClient", "ProcessSpec", "discover_processes"]
