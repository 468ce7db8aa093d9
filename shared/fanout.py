"""Concurrent fan-out for one screen: required and optional sections under one deadline.

Sections start as soon as they are declared and run concurrently. A section's work runs
at once, in the caller's task, up to its first wait: one answered without waiting (a cache
hit) is done before the next is declared, with no task; one that waits goes on in a task of
its own. Work that binds to the running task (``asyncio.timeout``, aiohttp's timeouts)
must first ``await own_task()``, which moves a section still running in its caller's task
into its own (the upstream client does, before anything but its in-process cache hit).
When the block ends:

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
from collections.abc import Collection, Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

from shared.deadline import Deadline
from shared.errors import BFFError, UpstreamTimeout
from shared.request_context import note_degraded

T = TypeVar("T")
log = logging.getLogger("bff.fanout")


#: The caller's task while a section's work runs in it, before its first wait (tasks that
#: work starts inherit the value, but are not that task: they run as they are).
_in_caller: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar("fanout_in_caller", default=None)
#: What ``own_task`` yields to ``FanOut._start``: "start my task now, and resume me in it".
_MOVE = object()


class _OwnTask:
    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, None]:
        caller = _in_caller.get()
        if caller is not None and caller is asyncio.current_task():
            yield _MOVE


def own_task() -> _OwnTask:
    """Await this before work bound to the running task; a no-op outside an eager section."""
    return _OWN_TASK


_OWN_TASK = _OwnTask()


class Section(Generic[T]):
    """A handle on one section's result; ``value`` is readable after the block ends.

    ``path`` is the section's name under its enclosing sections (``related.stock``).
    """

    __slots__ = ("_error", "_result", "_task", "default", "degraded", "name", "nested_degraded", "path", "required")

    def __init__(self, name: str, path: str, required: bool, default: T | None) -> None:
        self.name = name
        self.path = path
        self.required = required
        self.default = default
        self.degraded = False
        #: Paths that fell back in fan-outs nested inside this section's work.
        self.nested_degraded: list[str] = []
        #: The task running the work past its first wait; ``None`` when it never waited.
        self._task: asyncio.Task[T] | None = None
        self._result: T | None = None
        self._error: BaseException | None = None

    @property
    def value(self) -> T:
        if self.degraded:
            return self.default  # type: ignore[return-value]  # optional: default given at declaration
        task = self._task
        if task is None:
            return self._result  # type: ignore[return-value]  # finished without waiting
        if not task.done():
            raise RuntimeError(f"section {self.name!r} read before its fan-out finished")
        return task.result()


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
        context.run(_in_caller.set, asyncio.current_task())
        self._sections.append(section)
        try:
            waits_on = context.run(work.send, None)  # up to its first wait, here and now
        except StopIteration as finished:
            section._result = finished.value
            return section
        except Exception as error:  # judged when the block ends, as a task's error would be
            section._error = error
            return section
        finally:
            context.run(_in_caller.set, None)
        # Stopped at own_task(): the task resumes the coroutine itself, where it stopped.
        # Stopped on anything else: the task must first wait on that, through _Resumed.
        rest = work if waits_on is _MOVE else _Resumed(work, waits_on)
        section._task = asyncio.get_running_loop().create_task(rest, context=context)
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
        pending: dict[asyncio.Task[Any], Section[Any]] = {}
        for section in self._sections:
            if section._task is not None:
                pending[section._task] = section
            elif section._error is not None:
                if section.required:
                    self._cancel_all()
                    raise section._error
                self._degrade(section, section._error)
        try:
            while pending:
                done = await _first_done(pending, self.deadline.remaining())
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
        await asyncio.gather(*(section._task for section in sections if section._task), return_exceptions=True)
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
            task = section._task
            if task is not None:
                task.cancel()
                # Mark any error as retrieved so abandoned sections never log "never retrieved".
                task.add_done_callback(_consume_outcome)


_enclosing_section: contextvars.ContextVar[Section[Any] | None] = contextvars.ContextVar(
    "fanout_enclosing_section", default=None
)


async def _first_done(tasks: Collection[asyncio.Task[Any]], timeout: float) -> list[asyncio.Task[Any]]:
    """The tasks done once one of them is, or none when ``timeout`` passes first: what
    ``asyncio.wait(FIRST_COMPLETED)`` does, without its checks and sets on every call."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not woken.done():
            woken.set_result(None)

    for task in tasks:
        task.add_done_callback(wake)
    timer = loop.call_later(max(timeout, 0.0), wake)
    try:
        await woken
    finally:
        timer.cancel()
        for task in tasks:
            task.remove_done_callback(wake)
    return [task for task in tasks if task.done()]


class _Resumed(Coroutine[Any, Any, T]):
    """The rest of ``work``, which started outside a task and now waits on ``waits_on``,
    as the coroutine of its own task: each wait of ``work`` is handed to that task as if
    ``work`` were its own.

    Not an ``async def``: a task cancelled before its first step throws into its coroutine
    at once, and an ``async def`` not yet started would end there without ``work`` hearing
    of it (its ``finally`` blocks never run in a task, what it waits on goes on running).
    Here the throw reaches ``work``; on a cancellation, what ``work`` waits on is cancelled
    first, as a task waiting on it would have cancelled it."""

    __slots__ = ("_started", "_waits_on", "_work")

    def __init__(self, work: Coroutine[Any, Any, T], waits_on: Any) -> None:
        self._work = work
        self._waits_on = waits_on
        self._started = False

    def send(self, value: Any) -> Any:
        if self._started:
            return self._work.send(value)
        self._started = True
        return self._waits_on  # the task's first step: wait on what work stopped on

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        if not self._started:
            self._started = True
            waits_on = self._waits_on
            if isinstance(typ, asyncio.CancelledError) and isinstance(waits_on, asyncio.Future):
                waits_on.cancel()
                waits_on.add_done_callback(_consume_outcome)  # work hears of it here, not from it
        if val is None and tb is None:
            return self._work.throw(typ)
        return self._work.throw(typ, val, tb)  # pragma: no cover  # the legacy signature

    def close(self) -> None:
        self._work.close()

    def __await__(self) -> Generator[Any, Any, T]:  # pragma: no cover  # only run by its task
        raise TypeError("a section's work is run by its own task, not awaited")


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = ["FanOut", "Section", "own_task"]
