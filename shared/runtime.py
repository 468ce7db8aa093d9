"""The live, reloadable state of a process: the settings in force and its upstream clients.

A reload is all or nothing: the new file is loaded, validated and resolved against the
registry first; only then are policies swapped, between calls. Calls already running
finish on the policies they started with. Keys that only take effect at start
(``server.*``, ``http.*``, ``admin.host``/``admin.port``…) keep their running values, and
the reload says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.errors import ConfigError
from shared.operations import UpstreamSpec
from shared.settings import ProcessSettings
from shared.upstream_set import UpstreamSet

SettingsT = TypeVar("SettingsT", bound=ProcessSettings)
log = logging.getLogger("bff.config")


class Runtime(Generic[SettingsT]):
    def __init__(
        self,
        settings: SettingsT,
        specs: Sequence[UpstreamSpec],
        upstreams: UpstreamSet,
        loader: Callable[[], SettingsT] | None = None,
    ) -> None:
        self.settings = settings
        self.specs = tuple(specs)
        self.upstreams = upstreams
        self._loader = loader
        self.reloads = 0
        self.last_reload_error: str | None = None

    @property
    def can_reload(self) -> bool:
        return self._loader is not None

    def apply(self, new: SettingsT) -> list[str]:
        """Swap in ``new`` settings; returns notes on keys that need a restart.

        Raises ``ConfigError`` (and changes nothing) if ``new`` does not resolve.
        """
        restart_only = type(self.settings).RESTART_ONLY
        notes = [
            f"{key}: changed in the file but takes effect only at restart; keeping the running value"
            for key in restart_only
            if _value(new, key) != _value(self.settings, key)
        ]
        kept = new
        for key in restart_only:
            kept = _keep(kept, self.settings, key)
        self.upstreams.reconfigure(kept, self.specs)
        self.settings = kept
        if self.upstreams.cache is not None:  # screens were rendered under the old settings
            self.upstreams.cache.screens.clear()
        self.reloads += 1
        self.last_reload_error = None
        return notes

    def reload(self) -> list[str]:
        """Re-read the config file and apply it; ``ConfigError`` keeps the old config running."""
        if self._loader is None:
            raise ConfigError("reload", [("<file>", "this process was started without a config file")])
        try:
            notes = self.apply(self._loader())
        except ConfigError as exc:
            self.last_reload_error = str(exc)
            log.error("config reload refused, the running configuration stays in force: %s", exc)
            raise
        for note in notes:
            log.warning("config reload: %s", note)
        log.warning("config reloaded (reload #%d)", self.reloads)
        return notes


def _value(settings: BaseModel, path: str) -> object:
    value: object = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


ModelT = TypeVar("ModelT", bound=BaseModel)


def _keep(new: ModelT, running: BaseModel, path: str) -> ModelT:
    """``new`` with the value at dotted ``path`` taken from ``running``."""
    head, _, rest = path.partition(".")
    value = getattr(running, head)
    if rest:
        value = _keep(getattr(new, head), value, rest)
    return new.model_copy(update={head: value})


__all__ = ["Runtime"]
