"""Marking and masking personally identifiable information.

Upstream models mark PII fields once, with ``Annotated[str, PII]``; everything else
(masking for display, the PII inventory, log redaction, the ``bff pii scan`` and cache
encryption) reads that mark instead of keeping its own list.

A marked field also remembers the values it validates, a bounded number of the most
recent ones (``SEEN``), so that log redaction can find a name or a street in free text,
where neither a key nor a shape gives it away.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args, get_origin

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

#: A word of free text, as log redaction and ``SeenValues`` split it: quotes, brackets and
#: separators are not part of a value.
WORD = re.compile(r"[^\s'\"`(),;=\[\]{}<>|]+")


class SeenValues:
    """The most recent values of PII-marked fields, at most ``limit`` of them (the oldest
    is forgotten first), in the form free text is searched in: its words joined by one
    space. Lookups are set lookups; nothing here grows with the number of marked fields.

    Values of fewer than ``min_length`` characters are not kept: they would turn up in
    any text by chance."""

    def __init__(self, limit: int = 65_536, min_length: int = 3) -> None:
        self.limit = limit
        self.min_length = min_length
        self._raw: dict[str, str] = {}  # value as validated -> its words, joined
        self._joined: dict[str, int] = {}  # words joined -> how many raw values have them
        self._first: dict[str, int] = {}  # first word -> how many joined values start with it
        #: The most words any value kept so far has had.
        self.max_words = 0

    def remember(self, value: str) -> None:
        if value in self._raw or len(value) < self.min_length:
            return
        words = WORD.findall(value)
        if not words:
            return
        joined = " ".join(words)
        self._raw[value] = joined
        if self._joined.get(joined, 0) == 0:
            self._first[words[0]] = self._first.get(words[0], 0) + 1
        self._joined[joined] = self._joined.get(joined, 0) + 1
        self.max_words = max(self.max_words, len(words))
        if len(self._raw) > self.limit:
            self._forget(next(iter(self._raw)))

    def _forget(self, value: str) -> None:
        joined = self._raw.pop(value)
        left = self._joined[joined] - 1
        if left:
            self._joined[joined] = left
            return
        del self._joined[joined]
        first = joined.split(" ", 1)[0]
        if self._first[first] == 1:
            del self._first[first]
        else:
            self._first[first] -= 1

    def __contains__(self, text: object) -> bool:
        """``text`` is a remembered value as validated, or its words joined by a space."""
        return text in self._raw or text in self._joined

    def starts(self, word: str) -> bool:
        """Some remembered value starts with ``word``."""
        return word in self._first

    def any_starts(self, words: Iterable[str]) -> bool:
        """Some remembered value starts with one of ``words``."""
        return not self._first.keys().isdisjoint(words)

    def __len__(self) -> int:
        return len(self._raw)

    def clear(self) -> None:
        self._raw.clear()
        self._joined.clear()
        self._first.clear()
        self.max_words = 0


#: The values marked fields validated in this process (see ``SeenValues``).
SEEN = SeenValues()


def _remember(value: Any) -> Any:
    if isinstance(value, str):
        SEEN.remember(value)
    elif isinstance(value, date):
        SEEN.remember(value.isoformat())
    return value


@dataclass(frozen=True, slots=True)
class PIIMarker:
    """Metadata marking a model field as personal data.

    The field validates as it would without the mark; then its value is remembered in
    ``SEEN`` (one call and a dict lookup per marked field of a validated answer)."""

    kind: str = "personal"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_remember, handler(source))


PII = PIIMarker()


def pii_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of every PII-marked field in ``model``, nested models included.

    >>> from typing import Annotated
    >>> class User(BaseModel):
    ...     id: int
    ...     email: Annotated[str, PII]
    >>> pii_fields(User)
    ['email']
    """
    found: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if any(isinstance(meta, PIIMarker) for meta in field.metadata):
            found.append(path)
            continue
        for nested in _models_in(field.annotation):
            found.extend(pii_fields(nested, prefix=f"{path}."))
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is not None:
        return [model for arg in get_args(annotation) for model in _models_in(arg)]
    return []


@dataclass(frozen=True, slots=True)
class Exposure:
    """Where a client-facing field shows personal data from an upstream, and how."""

    #: ``GET /v1/me`` or ``graphql Profile.email``.
    where: str
    #: The client-facing field.
    field: str
    #: ``accounts.get_user``.
    operation: str
    #: The PII field of that operation's answer, dotted (``address.street``).
    source: str
    #: ``full``, ``masked`` or a short description (``first name only``).
    shown: str


def mask_email(email: str) -> str:
    """``anna.keller@example.com`` → ``a***@example.com``."""
    local, sep, domain = email.partition("@")
    if not sep or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(phone: str) -> str:
    """Keep only the last two digits: ``+49 151 2345 6789`` → ``*** 89``."""
    digits = [c for c in phone if c.isdigit()]
    return f"*** {''.join(digits[-2:])}" if len(digits) >= 4 else "***"


def mask_text(value: str, keep: int = 1) -> str:
    """Keep the first ``keep`` characters: ``Lindenstraße 12`` → ``L***``."""
    return f"{value[:keep]}***" if value else ""


__all__ = [
    "PII",
    "SEEN",
    "WORD",
    "Exposure",
    "PIIMarker",
    "SeenValues",
    "mask_email",
    "mask_phone",
    "mask_text",
    "pii_fields",
]
