"""Concurrent fan-out for one screen: required and optional sections under one deadline.

Sections start as soon as they are declared and run concurrently. When the block ends:

* a *required* section that failed (or ran past the deadline) cancels the rest and its
  error propagates, becoming a problem+json answer;
* an *optional* section that failed is replaced by its default and named in
  ``degraded``, so the screen still answers 200.

A fan-out started inside a section (stock inside the recommended product cards) is
*nested*: its sections are named under the enclosing one (``recommendations.stock``), and
its fallbacks reach the enclosing fan-out's ``degraded`` when that section succeeds (when
it fails, its own name says it all). So the outermost ``degraded`` names every section
that fell back, however deep, without the screen passing anything along.

::

    async with FanOut(deadline) as fan:
        profile = fan.required("profile", accounts.user(user_id, deadline=deadline))
        recs = fan.optional("recommendations", recommended(user_id), default=[])
    screen = Home(name=profile.value.name, recommended=recs.value, degraded=fan.degraded)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

from shared.deadline import Deadline
from shared.errors import BFFError, UpstreamTimeout
from shared.request_context import note_degraded

T = TypeVar("T")
log = logging.getLogger("bff.fanout")


class Section(Generic[T]):
    """A handle on one section's result; ``value`` is readable after the block ends.

    ``path`` is the section's name under its enclosing sections (``related.stock``).
    """

    __slots__ = ("_task", "default", "degraded", "name", "nested_degraded", "path", "required")

    _task: asyncio.Task[T]

    def __init__(self, name: str, path: str, required: bool, default: T | None) -> None:
        self.name = name
        self.path = path
        self.required = required
        self.default = default
        self.degraded = False
        #: Paths that fell back in fan-outs nested inside this section's work.
        self.nested_degraded: list[str] = []

    @property
    def value(self) -> T:
        if self.degraded:
            return self.default  # type: ignore[return-value]  # optional: default given at declaration
        if not self._task.done():
            raise RuntimeError(f"section {self.name!r} read before its fan-out finished")
        return self._task.result()


class FanOut:
    """Runs sections concurrently within ``deadline``; see the module docstring."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        #: The section whose work this fan-out runs in, if any: it hears of our fallbacks.
        self._enclosing = _enclosing_section.get()
        self._prefix = "" if self._enclosing is None else f"{self._enclosing.path}."
        self._sections: list[Section[Any]] = []

    @property
    def degraded(self) -> list[str]:
        """Every section that fell back, however deep, in declaration order: a failed
        section by its own path, a succeeded one by the fallbacks nested inside it."""
        names: dict[str, None] = {}
        for section in self._sections:
            if section.degraded:
                names[section.path] = None
            else:
                names.update(dict.fromkeys(section.nested_degraded))
        return list(names)

    def required(self, name: str, work: Coroutine[Any, Any, T]) -> Section[T]:
        return self._start(name, work, required=True, default=None)

    def optional(self, name: str, work: Coroutine[Any, Any, T], default: T) -> Section[T]:
        return self._start(name, work, required=False, default=default)

    def _start(self, name: str, work: Coroutine[Any, Any, T], *, required: bool, default: T | None) -> Section[T]:
        section: Section[T] = Section(name, self._prefix + name, required, default)
        # The section's work runs in a context that names the section, so a fan-out
        # started inside it knows where it is nested.
        context = contextvars.copy_context()
        context.run(_enclosing_section.set, section)
        section._task = asyncio.get_running_loop().create_task(work, context=context)
        self._sections.append(section)
        return section

    async def __aenter__(self) -> FanOut:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self._cancel_all()
            return
        await self._settle()
        if self._enclosing is not None:
            self._enclosing.nested_degraded.extend(self.degraded)

    async def _settle(self) -> None:
        pending = {section._task: section for section in self._sections}
        try:
            while pending:
                done, _ = await asyncio.wait(
                    pending, timeout=self.deadline.remaining(), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the deadline passed
                    await self._expire(list(pending.values()))
                    return
                for task in done:
                    section = pending.pop(task)
                    error = task.exception()
                    if error is None:
                        continue
                    if section.required:
                        self._cancel_all()
                        raise error
                    self._degrade(section, error)
        except asyncio.CancelledError:
            self._cancel_all()
            raise

    async def _expire(self, sections: list[Section[Any]]) -> None:
        self._cancel_all()
        # Let cancelled sections unwind (close their connections) before answering.
        await asyncio.gather(*(section._task for section in sections), return_exceptions=True)
        for section in sections:
            if section.required:
                raise UpstreamTimeout(section.path, "section", "request deadline exceeded")
            self._degrade(section, None)

    def _degrade(self, section: Section[Any], error: BaseException | None) -> None:
        section.degraded = True
        note_degraded()
        if error is None:
            log.warning("section %s degraded: request deadline exceeded", section.path)
        elif isinstance(error, BFFError):
            log.warning("section %s degraded: %s", section.path, error)
        else:  # a bug, not an upstream failure: keep the traceback
            log.error("section %s degraded by an unexpected error", section.path, exc_info=error)

    def _cancel_all(self) -> None:
        for section in self._sections:
            section._task.cancel()
            # Mark any error as retrieved so abandoned sections never log "never retrieved".
            section._task.add_done_callback(_consume_outcome)


_enclosing_section: contextvars.ContextVar[Section[Any] | None] = contextvars.ContextVar(
    "fanout_enclosing_section", default=None
)


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = ["FanOut", "Section"]
