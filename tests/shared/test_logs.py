"""Batched log writing: nothing is lost, warnings are not delayed; and redaction by the
PII marks: no marked field is written in clear, whichever way a line carries it."""

import io
import logging
import time
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

import httpx
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from shared.cli.pii_report import inventory
from shared.operations import Operation, UpstreamSpec
from shared.pii import PII, SEEN, SeenValues
from shared.process import discover_processes
from shared.telemetry import logs
from shared.telemetry.logs import (
    BufferedLineHandler,
    HotLog,
    JsonFormatter,
    configure_logging,
    install_redactor,
    json_members,
    redact_marked_fields,
)
from shared.telemetry.redaction import Redactor
from upstreams.registry import registered_upstreams


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


# --- redaction by the PII marks ---------------------------------------------------------


@pytest.fixture
def marked(configured: BufferedLineHandler) -> Iterator[BufferedLineHandler]:
    """Logging as a process sets it up, with its lifespan's redaction of the registered
    upstreams' marked fields; the previous redactor is put back afterwards."""
    previous = install_redactor(Redactor())
    redact_marked_fields(registered_upstreams())
    yield configured
    install_redactor(previous)


def _values_at(data: Any, dotted: str) -> list[Any]:
    head, _, rest = dotted.partition(".")
    if isinstance(data, list):
        return [found for item in data for found in _values_at(item, dotted)]
    value = data.get(head) if isinstance(data, dict) else None
    if value is None:
        return []
    return _values_at(value, rest) if rest else [value]


async def _marked_values() -> list[tuple[str, str, Any, BaseModel]]:
    """``(operation, field, value, answer)`` for every PII-marked field in the inventory,
    its value taken from the answer its stand-in gives the operation's contract example,
    validated by the operation's model as a client validates it."""
    exposures = {name: spec.pii_exposures() for name, spec in discover_processes().items()}
    entries = inventory(registered_upstreams(), exposures)
    operations = {op.key: (spec, op) for spec in registered_upstreams() for op in spec.operations}
    found = []
    for entry in entries:
        spec, op = operations[entry.operation]
        example = op.example
        assert example is not None and example.setup is None, f"{op.key}: give it a call that needs no setup"
        [app] = spec.create_standins(["eu-west-1"]).values()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin") as client:
            response = await client.request(
                op.method, op.render_path(example.path_params), params=dict(example.params), json=example.json
            )
        answer = op.parse(response.content)
        values = _values_at(answer.model_dump(), entry.name)
        assert values, f"{entry.operation}.{entry.name}: the example's answer has no value for it"
        found += [(entry.operation, entry.name, value, answer) for value in values]
    return found


RECORD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__)


def _only(handler: logging.Handler) -> None:
    """Leave ``handler`` the root logger's only one (pytest adds its capture for each test)."""
    logging.getLogger().handlers[:] = [handler]


def _clear_forms(value: Any) -> set[str]:
    text = value.isoformat() if isinstance(value, date) else str(value)
    return {text.casefold(), orjson.dumps(text).decode()[1:-1].casefold()}


async def test_no_marked_field_is_written_in_clear_whichever_way_it_is_logged(marked: BufferedLineHandler) -> None:
    found = await _marked_values()
    assert {(operation, field) for operation, field, _, _ in found} >= {("accounts.get_user", "address.street")}
    _only(marked)  # so that hot lines take their own path, not pytest's capture
    log = logging.getLogger("bff.test.redaction")
    for operation, field, value, answer in found:
        leaf = field.rsplit(".", 1)[-1]
        # by its name and its dotted path (but logging refuses extra={"name": ...})
        top = {key: value for key in (leaf, field) if key not in RECORD_ATTRIBUTES}
        log.info("structured", extra={"note": value, "user": {leaf: value}, **top, "user_id": 7})
        HotLog("bff.hot").info("upstream call", {leaf: value, "note": value, "status": 200})
        log.warning("no orders for %s (%s)", value, operation)
        log.warning("answer %r", answer)
        log.warning(f"{leaf}={value} and {leaf}: {value!r} in an f-string")
        try:
            raise ValueError(f"cannot ship to {value}")
        except ValueError as exc:
            log.warning("section degraded: %s", exc)
            log.exception("unexpected error")
        try:
            type(answer).model_validate({**answer.model_dump(), "id": "not a number", field.split(".")[0]: value})
        except ValidationError as exc:
            log.warning("upstream answer invalid: %s", exc)
    lines = [orjson.dumps(line).decode() for line in _lines(marked)]
    assert len(lines) == 8 * len(found)
    for operation, field, value, _ in found:
        for form in _clear_forms(value):
            leaked = [line for line in lines if form in line.casefold()]
            assert leaked == [], f"{operation}.{field} {value!r} written in clear: {leaked[:3]}"
    assert all("[redacted" in line for line in lines)


def test_a_marked_key_is_redacted_even_if_its_value_was_never_validated(marked: BufferedLineHandler) -> None:
    _only(marked)
    logging.getLogger("bff.test.redaction").info("structured", extra={"email": "x", "postalCode": "4711 XZ"})
    HotLog("bff.hot").info("upstream call", {"street": "Nowhere Lane 1", "status": 200})
    [structured, hot] = _lines(marked)
    assert (structured["email"], structured["postalCode"]) == ("[redacted]", "[redacted]")
    assert (hot["street"], hot["status"]) == ("[redacted]", 200)


def test_unmarked_members_and_text_are_written_as_they_are(marked: BufferedLineHandler) -> None:
    _only(marked)
    HotLog("bff.hot").info("upstream call", {"upstream": "accounts", "city": "Rotterdam", "status": 200})
    logging.getLogger("bff.test.redaction").warning("breaker accounts: closed -> open (rate: 0.6)")
    [hot, warning] = _lines(marked)
    assert (hot["upstream"], hot["city"]) == ("accounts", "Rotterdam")
    assert warning["msg"] == "breaker accounts: closed -> open (rate: 0.6)"


class Loyalty(BaseModel):
    id: int
    nickname: Annotated[str, PII]


LOYALTY = UpstreamSpec(
    name="loyalty",
    description="a test upstream",
    operations=(
        Operation(
            upstream="loyalty", name="get_member", method="GET", path="/m/{id}", response=Loyalty, idempotent=True
        ),
    ),
    local_regions={"eu-west-1": "http://127.0.0.1:1"},
    standin_module="tests.nowhere",
)


def test_a_newly_marked_field_is_redacted_once_its_upstream_is_registered(configured: BufferedLineHandler) -> None:
    previous = install_redactor(Redactor(seen=SeenValues()))
    log = logging.getLogger("bff.test.redaction")
    try:
        log.info("before", extra={"nickname": "Captain Zebedee"})
        redact_marked_fields([LOYALTY])  # what a process's lifespan does with its upstreams
        log.info("by key", extra={"nickname": "Captain Zebedee", "profile": {"nickname": "Cpt Z"}})
        log.warning("free text: Loyalty(nickname='Cpt Z'), nickname=Cpt")
        logs._redactor.seen.remember(Loyalty(id=1, nickname="Captain Zebedee").nickname)  # as SEEN is fed
        log.warning("no points for %s", "Captain Zebedee")
    finally:
        install_redactor(previous)
    before, by_key, free_text, by_value = _lines(configured)
    assert before["nickname"] == "Captain Zebedee"
    assert (by_key["nickname"], by_key["profile"]) == ("[redacted]", {"nickname": "[redacted]"})
    assert free_text["msg"] == "free text: Loyalty(nickname='[redacted]'), nickname=[redacted]"
    assert by_value["msg"] == "no points for [redacted]"


def test_a_marked_field_remembers_the_values_it_validates() -> None:
    Loyalty.model_validate({"id": 2, "nickname": "Madame Quillon"})
    assert "Madame Quillon" in SEEN


def test_seen_values_forget_the_oldest_past_their_limit() -> None:
    seen = SeenValues(limit=2)
    for value in ("Anna Keller", "Finn de Jong", "Léa Moreau"):
        seen.remember(value)
    assert "Anna Keller" not in seen and not seen.starts("Anna")
    assert "Finn de Jong" in seen and "Léa Moreau" in seen and len(seen) == 2


def test_a_hot_line_checks_each_member_once_whatever_the_number_of_marked_fields() -> None:
    """Redaction's work per line grows with the line's members, not with the marks: a
    redactor of 1,000 marked names makes as many ``text`` calls as one of a single name."""
    calls: list[int] = []

    class Counting(Redactor):
        def text(self, text: str) -> str:
            calls.append(1)
            return super().text(text)

    fields = {"outcome": "success", "route": "/v1/home", "status": 200}
    counts = []
    for names in (["email"], [f"field_{n}" for n in range(1000)]):
        calls.clear()
        Counting(names, seen=SeenValues()).needs_members(fields)
        counts.append(len(calls))
    assert counts == [2, 2]
