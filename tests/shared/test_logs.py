"""Batched log writing: nothing is lost, warnings are not delayed."""

import io
import logging
import time

import orjson

from shared.telemetry.logs import BufferedLineHandler, JsonFormatter


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
