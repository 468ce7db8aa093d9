"""What a log line may not hold: personal data, found by the PII marks on upstream models.

Three rules, all driven by the marks (``shared.pii``), so a newly marked field is redacted
everywhere with no other change:

1. A structured member (a ``HotLog`` field, a record's ``extra``, a dict inside one) whose
   key is a marked field's name (``email``, ``address.street``, ``postalCode``) is written
   as ``[redacted]``, whatever its value: one frozenset lookup per member.
2. In free text (the message with its arguments, an exception, a string member), a marked
   name followed by ``=`` or ``:`` and a value (``User(name='Anna Keller')``,
   ``{"street": "…"}``, ``birth_date=datetime.date(…)``) loses the value, and so does
   pydantic's ``input_value=…``: one precompiled pattern, however many fields are marked.
3. In free text, the recent values of marked fields (``shared.pii.SEEN``) are redacted
   wherever they appear, key or no key: one set lookup per word.

E-mail addresses and phone numbers are redacted by shape as well, a second line of
defence for data that never went through a marked field (a client's own input).

::

    redactor = Redactor.for_models([User])
    redactor.members({"email": "a@b.c", "status": 200})  # {"email": "[redacted]", "status": 200}
    redactor.text("no orders for Finn de Jong")          # once a User named him: "no orders for [redacted]"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel

from shared.pii import SEEN, WORD, SeenValues, pii_fields

REDACTED = "[redacted]"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d[\d ()-]{7,}\d")
#: A value after ``key=`` or ``key:``: a date's repr, a quoted string (plain or
#: JSON-escaped inside another string), or a bare word.
_VALUE = re.compile(r"""\s*(datetime\.date\([^)]*\)|'[^']*'|"(?:[^"\\]|\\.)*"|\\"(?:[^\\]|\\[^"])*\\"|[^\s,;)}\]]+)""")
_ASSIGNMENT = re.compile("[:=]")
_KEY_END = " \t\"'\\"
#: pydantic's validation errors echo the input: never needed in a log line.
_ALWAYS_KEYED = frozenset({"input_value"})
#: What splits free text into words (see ``shared.pii.WORD``).
_SEPARATED = re.compile(r"[\s'\"`(),;=\[\]{}<>|]")
#: Plain scalars are safe; any other value is written by ``str`` and checked as text.
_SCALARS = (int, float, bool, type(None))
_PLAIN = frozenset(_SCALARS)


def key_forms(dotted: str) -> set[str]:
    """The keys a marked field ``address.postal_code`` may be logged under: its name, its
    dotted path, and both in camelCase (GraphQL's and the web client's spelling)."""
    leaf = dotted.rsplit(".", 1)[-1]
    forms = {leaf, dotted}
    forms |= {_camel(form) for form in forms}
    return forms


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def marked_names(models: Iterable[type[BaseModel]]) -> frozenset[str]:
    """Every key a PII-marked field of ``models`` may be logged under (see ``key_forms``)."""
    return frozenset(form for model in models for dotted in pii_fields(model) for form in key_forms(dotted))


class Redactor:
    """Redacts personal data from log members and free text (the module's three rules)."""

    def __init__(self, names: Iterable[str] = (), seen: SeenValues = SEEN) -> None:
        self.names = frozenset(names)
        self.seen = seen
        self._keyed = frozenset(name.lower() for name in self.names) | _ALWAYS_KEYED

    @classmethod
    def for_models(cls, models: Iterable[type[BaseModel]], seen: SeenValues = SEEN) -> Redactor:
        return cls(marked_names(models), seen)

    def including(self, names: Iterable[str]) -> Redactor:
        """This redactor with more marked names (processes sharing one ``logging`` add up)."""
        return Redactor(self.names | frozenset(names), self.seen)

    def text(self, text: str) -> str:
        """``text`` with every marked value in it redacted."""
        # Cheap membership tests skip every pattern for almost every value.
        if "=" in text or ":" in text:
            text = self._assigned_values(text)
        if "@" in text:
            text = _EMAIL.sub("[redacted-email]", text)
        if "+" in text:
            text = _PHONE.sub("[redacted-phone]", text)
        if self.seen.max_words:
            if _SEPARATED.search(text) is None:  # one word: the whole text is a value or not
                return REDACTED if text in self.seen else text
            text = self._seen_values(text)
        return text

    def _assigned_values(self, text: str) -> str:
        """``text`` without the values assigned to marked keys (``key=value``, ``"key": value``).

        Each ``:`` or ``=`` is looked at, and the word before it: no pattern tries every
        marked name at every position."""
        keyed = self._keyed
        found: list[tuple[int, int, str]] = []
        for separator in _ASSIGNMENT.finditer(text):
            at = separator.start()
            end = at
            while end and text[end - 1] in _KEY_END:
                end -= 1
            start = end
            while start and (text[start - 1].isalnum() or text[start - 1] in "_."):
                start -= 1
            if start == end or text[start:end].lower() not in keyed:
                continue
            value = _VALUE.match(text, at + 1)
            if value is not None and (not found or value.start(1) >= found[-1][1]):
                found.append((value.start(1), value.end(1), _redacted(value[1])))
        for begin, finish, replacement in reversed(found):
            text = text[:begin] + replacement + text[finish:]
        return text

    def _seen_values(self, text: str) -> str:
        seen = self.seen
        words = WORD.findall(text)
        if not seen.any_starts(words):  # the usual case
            return text
        spans = [match.span() for match in WORD.finditer(text)]
        found: list[tuple[int, int]] = []
        start = 0
        while start < len(words):
            end = start
            if seen.starts(words[start]):
                for stop in range(min(len(words), start + seen.max_words), start, -1):  # longest first
                    if " ".join(words[start:stop]) in seen:
                        end = stop
                        break
            if end > start:
                found.append((spans[start][0], spans[end - 1][1]))
                start = end
            else:
                start += 1
        for begin, finish in reversed(found):
            text = text[:begin] + REDACTED + text[finish:]
        return text

    def value(self, value: Any) -> Any:
        """A structured member's value: strings as ``text``, containers member by member."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, Mapping):
            return self.members(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.value(item) for item in value]
        if isinstance(value, date) and value.isoformat() in self.seen:
            return REDACTED
        return self.text(str(value))

    def members(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` with marked keys' values redacted and every other value checked."""
        names = self.names
        return {
            key: REDACTED if key in names and fields[key] is not None else self.value(fields[key]) for key in fields
        }

    def needs_members(self, fields: Mapping[str, Any]) -> bool:
        """Whether ``members`` would change anything: the cheap test for a hot line."""
        if not self.names.isdisjoint(fields):
            return True
        text = self.text
        for value in fields.values():
            kind = type(value)
            if kind is str:
                if text(value) != value:
                    return True
            elif kind not in _PLAIN:
                return True
        return False


def _redacted(value: str) -> str:
    """``[redacted]`` in the quotes ``value`` had."""
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote) and len(value) > len(quote):
            return f"{quote}{REDACTED}{quote}"
    return REDACTED


__all__ = ["REDACTED", "Redactor", "key_forms", "marked_names"]
