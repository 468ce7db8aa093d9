"""JSON-lines logging: one object per line with the request id and trace id.

Log lines carry ids, routes, statuses and durations, not personal data; what might slip
in is redacted before it is written, by the PII marks on the upstream models
(``shared.telemetry.redaction``): each process's lifespan adds the fields its upstreams
mark (``redact_marked_fields``), so a newly marked field is redacted with no other change.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

import orjson
from opentelemetry import trace

from shared.operations import UpstreamSpec
from shared.request_context import current_request_id
from shared.telemetry.redaction import Redactor, marked_names
from shared.telemetry.request_trace import current_request_trace, trace_of

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

#: What every line is redacted by; marks are added by ``redact_marked_fields``.
_redactor = Redactor()


def redact(text: str) -> str:
    """``text`` with personal data redacted (``Redactor.text`` of the installed redactor)."""
    return _redactor.text(text)


def redact_marked_fields(upstreams: Iterable[UpstreamSpec]) -> None:
    """Redact, from now on, the PII-marked fields of the answers of ``upstreams`` (a
    process's) in every line; fields added before stay redacted."""
    install_redactor(_redactor.including(marked_names(op.response for spec in upstreams for op in spec.operations)))


def install_redactor(redactor: Redactor) -> Redactor:
    """Use ``redactor`` for every line from now on; returns the one it replaces."""
    global _redactor  # logging itself is process-wide
    previous, _redactor = _redactor, redactor
    return previous


class _Clock:
    """ISO 8601 UTC timestamps, with ``strftime`` once a second rather than once a line."""

    def __init__(self) -> None:
        self._second = -1
        self._second_text = ""

    def timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"


def _entry(ts: str, level: str, logger: str, msg: str) -> dict[str, Any]:
    """The fields every line starts with: time, level, logger, message, request and trace ids."""
    entry: dict[str, Any] = {"ts": ts, "level": level, "logger": logger, "msg": redact(msg)}
    request_id = current_request_id()
    if request_id:
        entry["request_id"] = request_id
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        ids = trace_of(context)
        entry["trace_id"], entry["span_id"] = ids.trace_id, ids.span_id
    return entry


def _context_members() -> str:
    """The request and trace ids of the hot line being written, as JSON members: those of
    the request's trace, bound once per request (hot lines are not written under child
    spans), else worked out now."""
    bound = current_request_trace()
    if bound is not None:
        return bound.log_members
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return trace_of(context).log_members
    request_id = current_request_id()
    return "," + json_members({"request_id": request_id}) if request_id else ""


def json_members(fields: dict[str, Any]) -> str:
    """``fields`` as the members of a JSON object (no braces), redacted: the varying part
    of a hot line, or its constant part, written once (``HotLog.info``'s ``fixed``)."""
    redactor = _redactor
    if redactor.needs_members(fields):  # rare: copy only then
        fields = redactor.members(fields)
    return orjson.dumps(fields, default=str).decode()[1:-1]


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(
            self._clock.timestamp(record.created), record.levelname.lower(), record.name, record.getMessage()
        )
        fields = record.__dict__
        extra = {key: fields[key] for key in fields.keys() - _STANDARD if not key.startswith("_")}
        redactor = _redactor
        if extra:
            entry.update(redactor.members(extra) if redactor.needs_members(extra) else extra)
        if record.exc_info:
            entry["exception"] = redactor.text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class BufferedLineHandler(logging.Handler):
    """Writes formatted lines to ``stream`` in batches: at most ``flush_seconds`` after
    they were logged, at once for warnings and errors, and at exit (``logging.shutdown``).

    Under load a BFF logs several lines per request; a write system call for each one
    cost more than formatting it. The price is that a process killed with SIGKILL loses
    the last ``flush_seconds`` of lines."""

    def __init__(self, stream: TextIO, flush_seconds: float, max_lines: int = 512) -> None:
        super().__init__()
        self.stream = stream
        self.flush_seconds = flush_seconds
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._stopped = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            self._lines.append(self.format(record))
            if record.levelno >= logging.WARNING or len(self._lines) >= self.max_lines:
                self._write_out()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_out()
        finally:
            self.release()

    def close(self) -> None:
        self._stopped.set()
        self.flush()
        super().close()

    def write_line(self, line: str) -> None:
        """Add a line formatted elsewhere (see ``HotLog``)."""
        with self.lock:  # type: ignore[union-attr]  # Handler.__init__ made it
            lines = self._lines
            lines.append(line)
            if len(lines) >= self.max_lines:
                self._write_out()

    def _write_out(self) -> None:
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self.stream.write(text)
            self.stream.flush()

    def _flush_periodically(self) -> None:
        while not self._stopped.wait(self.flush_seconds):
            with contextlib.suppress(Exception):  # a closed or broken stream must not kill the flusher
                self.flush()


class HotLog:
    """The info lines written for every request and every upstream call.

    They go through ``logging`` like any other line, except where ``configure_logging``
    installed the JSON ``BufferedLineHandler`` as the only handler: then the line is built
    here and handed to it, the same JSON a ``JsonFormatter`` would write, without the
    ``LogRecord``, caller lookup and handler walk that cost more than the line itself. The
    parts that do not change are serialized once: the level, logger and message, the
    request's ids (once per request), and ``fixed``, members the caller made with
    ``json_members`` (an upstream call's upstream, operation and region)::

        calls = HotLog("bff.upstream")
        catalog = json_members({"upstream": "catalog", "region": "eu-west-1"})
        calls.info("upstream call", {"status": 200}, fixed=catalog)
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self._root = logging.getLogger()
        self._clock = _Clock()
        self._heads: dict[str, str] = {}

    def info(self, msg: str, fields: dict[str, Any], fixed: str = "") -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        sink, handlers = _hot_sink, self._root.handlers
        if sink is None or logger.handlers or len(handlers) != 1 or handlers[0] is not sink:
            if fixed:
                fields = {**orjson.loads("{" + fixed + "}"), **fields}
            logger.info(msg, extra=fields)
            return
        head = self._heads.get(msg)
        if head is None:
            head = self._heads[msg] = json_members({"level": "info", "logger": logger.name, "msg": msg})
        if fixed:
            fixed = "," + fixed
        varying = json_members(fields)
        ts = self._clock.timestamp(time.time())
        sink.write_line(f'{{"ts":"{ts}",{head}{_context_members()}{fixed}{"," if varying else ""}{varying}}}')


#: The handler ``HotLog`` writes to directly, when ``configure_logging`` set one up.
_hot_sink: BufferedLineHandler | None = None


def configure_logging(level: str, json_lines: bool = True, flush_seconds: float = 0.0) -> None:
    """Send every log record to stderr, as JSON lines (or plain text for a terminal),
    line by line or, with ``flush_seconds`` above 0, in batches (``BufferedLineHandler``)."""
    handler: logging.Handler = (
        BufferedLineHandler(sys.stderr, flush_seconds) if flush_seconds > 0 else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    # Neither thread nor process names are written: spare every record looking them up.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    global _hot_sink  # one logging setup per process, as logging's own
    _hot_sink = handler if isinstance(handler, BufferedLineHandler) and json_lines else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx (the optional upstream transport) logs every request's full URL at INFO: a
    # search text or an id the client sent, in the query or path. Our own "upstream call"
    # line says what an operator needs without it.
    logging.getLogger("httpx").setLevel(logging.WARNING)


__all__ = [
    "BufferedLineHandler",
    "HotLog",
    "JsonFormatter",
    "configure_logging",
    "install_redactor",
    "json_members",
    "redact",
    "redact_marked_fields",
]
