"""Serving a process with a graceful, zero-downtime lifecycle.

On SIGTERM (or the first Ctrl-C):

1. readiness turns false at once (``/readyz`` answers 503), so load balancers and
   Kubernetes endpoints stop sending new requests;
2. the process keeps serving for ``server.drain_seconds``, since those take a moment
   to notice;
3. then it stops accepting, lets in-flight requests finish within
   ``server.shutdown_grace_seconds``, the lifespan closes upstream pools and Redis,
   and the process exits 0.

A second Ctrl-C forces an immediate exit.

The public and the admin listener (``shared.listeners``) are two sockets of the same
uvicorn server, so both stop accepting at the same moment and share the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Generator
from types import FrameType
from typing import Any

import uvicorn

from shared.health import Readiness
from shared.listeners import Listeners
from shared.settings import ProcessSettings

log = logging.getLogger("bff.lifecycle")
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, readiness: Readiness, drain_seconds: float) -> None:
        super().__init__(config)
        self._readiness = readiness
        self._drain_seconds = drain_seconds
        self._draining = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn re-raises the signal after shutdown (exit status -15); a drained,
        # complete shutdown is a success, so we exit 0 instead.
        loop = asyncio.get_event_loop()
        original = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig, handler in original.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_signal(sig)

    def _on_signal(self, sig: int) -> None:
        if self._draining:
            if sig == signal.SIGINT:
                log.warning("second interrupt: exiting now")
                self.force_exit = True
                self.should_exit = True
            return
        self._draining = True
        self._readiness.mark_draining()
        log.warning(
            "received %s: not ready; serving for %.1fs more, then finishing in-flight requests",
            signal.Signals(sig).name,
            self._drain_seconds,
        )
        asyncio.get_event_loop().call_later(self._drain_seconds, self._stop_accepting)

    def _stop_accepting(self) -> None:
        log.warning("drain period over: closing listeners, finishing in-flight requests")
        self.should_exit = True


def serve(app: Any, settings: ProcessSettings) -> int:
    """Run ``app`` until a signal, then drain as the module docstring says; returns the exit code."""
    server_settings = settings.server
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # uvicorn would take X-Forwarded-For from 127.0.0.1 as the client; shared.forwarded
        # does, only from server.trusted_proxies.
        proxy_headers=False,
        log_level=settings.log_level,
        log_config=None,  # the JSON logging configured by the caller stays
        timeout_keep_alive=int(server_settings.keepalive_seconds),
        timeout_graceful_shutdown=int(server_settings.shutdown_grace_seconds),
    )
    readiness: Readiness = app.state.readiness
    server = DrainingServer(config, readiness, server_settings.drain_seconds)
    listeners: Listeners = app.state.listeners
    try:
        sockets = listeners.bind()
    except OSError as exc:
        log.error("not starting: %s", exc.strerror)
        return 1
    admin = listeners.admin_url if listeners.separate else "the public port"
    log.info("listening on %s, admin API on %s", listeners.public_url, admin)
    # The steady state makes no reference cycles, yet the cyclic GC took ~15 % of CPU under
    # load (bench/RESULTS.md): freeze what start-up allocated and collect young objects less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    server.run(sockets=sockets)
    return 0 if server.started else 1


__all__ = ["DrainingServer", "serve"]
