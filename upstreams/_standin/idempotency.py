"""Idempotent writes: the same ``Idempotency-Key`` and body give the same result, once.

A stand-in's write handler validates the key with ``idempotency_key(request)`` and runs
its write through ``IdempotencyStore.run_once``; a retried request then replays the
first result instead of writing twice, as the real services promise.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.requests import Request

from upstreams._standin.responses import StandinError

__all__ = ["IDEMPOTENCY_HEADER", "IdempotencyStore", "idempotency_key"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


def idempotency_key(request: Request) -> str:
    """The request's ``Idempotency-Key``; 400 ``invalid_idempotency_key`` if absent or bad."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or _VALID_KEY.fullmatch(key) is None:
        raise StandinError(
            400,
            "invalid_idempotency_key",
            f"send an {IDEMPOTENCY_HEADER} header of 1 to 128 characters from A-Z, a-z, 0-9, '_' and '-'; got {key!r}",
        )
    return key


class IdempotencyStore(Generic[RequestT, ResultT]):
    """Remembers, per key, the request and the result of the write it caused.

    Thread-safe: the check and the write happen under one lock, so concurrent requests
    with the same key write once even when regions are served from different threads.
    ``write`` must therefore be synchronous and quick.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, tuple[RequestT, ResultT]] = {}

    def run_once(self, key: str, request: RequestT, write: Callable[[], ResultT]) -> tuple[ResultT, bool]:
        """``(result, replayed)``: run ``write`` the first time ``key`` is seen.

        A later call with an equal ``request`` returns the first result with
        ``replayed=True``; with a different one it raises 422 ``idempotency_key_reused``.
        """
        with self._lock:
            done = self._done.get(key)
            if done is None:
                result = write()
                self._done[key] = (request, result)
                return result, False
        first_request, result = done
        if first_request != request:
            raise StandinError(
                422,
                "idempotency_key_reused",
                f"{IDEMPOTENCY_HEADER} {key!r} was already used with a different body; "
                "send a new key for a new request",
            )
        return result, True
