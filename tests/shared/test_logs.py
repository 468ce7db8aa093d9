"""Batched log writing: nothing is lost, warnings are not delayed."""

import io
import logging
import time
from collections.abc import Iterator

import orjson
import pytest

from shared.telemetry import logs
from shared.telemetry.logs import BufferedLineHandler, HotLog, JsonFormatter, configure_logging, json_members


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.buffered.{id(handler)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_info_lines_wait_for_the_next_flush() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=3600)
    handler.setFormatter(JsonFormatter())
    logger = _logger(handler)
    logger.info("one", extra={"route": "/v1/home"})
    logger.info("two")
    assert stream.getvalue() == ""
    handler.flush()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["one", "two"]
    assert lines[0]["route"] == "/v1/home"
    handler.close()


def test_a_warning_writes_itself_and_everything_before_it_at_once() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=3600)
    logger = _logger(handler)
    logger.info("before")
    logger.warning("breaker opened")
    assert stream.getvalue().splitlines() == ["before", "breaker opened"]
    handler.close()


def test_a_full_buffer_is_written_without_waiting() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=3600, max_lines=3)
    logger = _logger(handler)
    for n in range(3):
        logger.info("line %d", n)
    assert len(stream.getvalue().splitlines()) == 3
    handler.close()


def test_closing_writes_what_is_left() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=3600)
    logger = _logger(handler)
    logger.info("last words")
    handler.close()
    assert stream.getvalue() == "last words\n"


def test_the_flusher_thread_writes_within_its_interval() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_seconds=0.01)
    logger = _logger(handler)
    logger.info("soon")
    for _ in range(500):  # up to 5 s on a loaded machine; usually the first few rounds
        if stream.getvalue():
            break
        time.sleep(0.01)
    assert stream.getvalue() == "soon\n"
    handler.close()


@pytest.fixture
def configured() -> Iterator[BufferedLineHandler]:
    """``configure_logging`` as ``bff serve`` calls it, into a string; undone afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logs._hot_sink)
    configure_logging("info", flush_seconds=3600)
    handler = root.handlers[0]
    assert isinstance(handler, BufferedLineHandler)
    handler.stream = io.StringIO()
    yield handler
    handler.close()
    root.handlers[:], level, logs._hot_sink = saved
    root.setLevel(level)


def _lines(handler: BufferedLineHandler) -> list[dict[str, object]]:
    handler.flush()
    assert isinstance(handler.stream, io.StringIO)
    return [orjson.loads(line) for line in handler.stream.getvalue().splitlines()]


FIELDS = {"upstream": "catalog", "region": "eu-west-1", "status": 200, "note": "for a.b@example.com"}


def test_hot_lines_are_what_the_formatter_writes(configured: BufferedLineHandler) -> None:
    HotLog("bff.hot").info("upstream call", dict(FIELDS))
    logging.getLogger("bff.hot").info("upstream call", extra=dict(FIELDS))
    hot, formatted = _lines(configured)
    assert hot.keys() == formatted.keys()
    assert {k: v for k, v in hot.items() if k != "ts"} == {k: v for k, v in formatted.items() if k != "ts"}
    assert hot["note"] == "for [redacted-email]"


def test_fixed_members_are_written_as_if_they_were_fields(configured: BufferedLineHandler) -> None:
    fixed = json_members({"upstream": "catalog", "note": "call +44 20 7946 0958"})
    HotLog("bff.hot").info("upstream call", {"status": 200}, fixed=fixed)
    HotLog("bff.hot").info("upstream call", {}, fixed=fixed)
    [first, second] = _lines(configured)
    assert {k: v for k, v in first.items() if k != "ts"} == {
        "level": "info",
        "logger": "bff.hot",
        "msg": "upstream call",
        "upstream": "catalog",
        "note": "call [redacted-phone]",
        "status": 200,
    }
    assert "status" not in second and second["upstream"] == "catalog"


def test_hot_lines_go_through_logging_when_another_handler_listens(configured: BufferedLineHandler) -> None:
    seen: list[logging.LogRecord] = []

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    listener = Listener()
    logging.getLogger().addHandler(listener)
    try:
        HotLog("bff.hot").info("request", {"route": "/v1/home"})
    finally:
        logging.getLogger().removeHandler(listener)
    assert [(r.getMessage(), r.__dict__["route"]) for r in seen] == [("request", "/v1/home")]
    assert [line["route"] for line in _lines(configured)] == ["/v1/home"]


def test_hot_lines_respect_the_level(configured: BufferedLineHandler) -> None:
    logging.getLogger().setLevel(logging.WARNING)
    HotLog("bff.hot").info("request", {"route": "/v1/home"})
    assert _lines(configured) == []
