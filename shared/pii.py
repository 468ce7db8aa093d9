"""Marking and masking personally identifiable information.

Upstream models mark PII fields once, with ``Annotated[str, PII]``; everything else
(masking for display, the PII inventory, and later log redaction and cache encryption)
reads that mark instead of keeping its own list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class PIIMarker:
    """Metadata marking a model field as personal data."""

    kind: str = "personal"


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


__all__ = ["PII", "Exposure", "PIIMarker", "mask_email", "mask_phone", "mask_text", "pii_fields"]
