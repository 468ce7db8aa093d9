"""Central type aliases and protocols shared by the runtime.

Kept in one small module (as ``starlette/types.py`` does) so the rest of the code
imports names rather than re-spelling signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None
Headers: TypeAlias = Mapping[str, str]
QueryParams: TypeAlias = Mapping[str, str | int]


class Clock(Protocol):
    """A monotonic clock in seconds; injected so tests never sleep."""

    def __call__(self) -> float: ...


__all__ = [
    "JSON",
    "ASGIApp",
    "Clock",
    "Headers",
    "Message",
    "QueryParams",
    "Receive",
    "Scope",
    "Send",
]
