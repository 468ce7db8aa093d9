"""The live, reloadable state of a process: the settings in force and its upstream clients.

A reload is all or nothing: the new file is loaded, validated and resolved against the
registry first; only then are policies swapped, between calls. Calls already running
finish on the policies they started with. Keys that only take effect at start
(``server.*``, ``http.*``) keep their running values, and the reload says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from shared.errors import ConfigError
from shared.operations import UpstreamSpec
from shared.settings import ProcessSettings
from shared.upstream_set import UpstreamSet

SettingsT = TypeVar("SettingsT", bound=ProcessSettings)
RESTART_ONLY = ("server", "http", "log_level", "cache", "telemetry", "auth", "rate_limit")
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
        notes = [
            f"{key}: changed in the file but takes effect only at restart; keeping the running value"
            for key in RESTART_ONLY
            if getattr(new, key) != getattr(self.settings, key)
        ]
        kept = new.model_copy(update={key: getattr(self.settings, key) for key in RESTART_ONLY})
        self.upstreams.reconfigure(kept, self.specs)
        self.settings = kept
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


__all__ = ["Runtime"]
