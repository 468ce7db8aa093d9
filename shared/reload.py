"""Hot reload triggers: a change to the config file (polled mtime) or SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from shared.errors import ConfigError
from shared.runtime import Runtime

log = logging.getLogger("bff.config")


class ConfigWatcher:
    """Reloads ``runtime`` when ``path`` changes (checked every ``interval`` seconds) or on SIGHUP."""

    def __init__(self, runtime: Runtime[Any], path: Path, *, interval: float, watch: bool = True) -> None:
        self._runtime = runtime
        self._path = path
        self._interval = interval
        self._watch = watch
        self._mtime = self._stat()
        self._task: asyncio.Task[None] | None = None
        self._hup = asyncio.Event()
        self._signal_installed = False

    def _stat(self) -> float | None:
        try:
            return self._path.stat().st_mtime_ns / 1e9
        except OSError:
            return None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signal.SIGHUP, self._hup.set)
            self._signal_installed = True
        self._task = asyncio.create_task(self._run(), name="config-watcher")

    async def stop(self) -> None:
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hup.wait(), self._interval)
            triggered = self._hup.is_set()
            self._hup.clear()
            mtime = self._stat()
            changed = self._watch and mtime is not None and mtime != self._mtime
            if not (triggered or changed):
                continue
            self._mtime = mtime
            # A refused file is logged by the runtime and the old config stays; a file
            # caught half-written is refused and re-read when its next write lands.
            with contextlib.suppress(ConfigError):
                self._runtime.reload()


__all__ = ["ConfigWatcher"]
