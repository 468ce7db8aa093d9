"""Traces, metrics and logs of a request through bff_mobile and a real stand-in."""

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry.logs import JsonFormatter
from tests.support import ADMIN, Standins, mobile_settings, serve_mobile

USER = {"X-User-Id": "7"}
STANDIN_SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module")
def standin_spans() -> InMemorySpanExporter:
    """Stand-ins report to the process-wide provider; install an in-memory one (once)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(STANDIN_SPANS))
    trace.set_tracer_provider(provider)
    return STANDIN_SPANS


@pytest.fixture
def traced(upstreams: Standins, standin_spans: InMemorySpanExporter) -> Iterator[tuple[str, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    # Every upstream attempt logged, as log_upstream_calls: all restores (default: notable ones only).
    settings = mobile_settings(upstreams, telemetry={"sampling_ratio": 1.0, "log_upstream_calls": "all"})
    standin_spans.clear()
    with serve_mobile(settings, span_exporter=spans) as url:
        yield url, spans


async def test_a_request_yields_server_cache_and_client_spans_continued_by_the_standin(
    traced: tuple[str, InMemorySpanExporter], standin_spans: InMemorySpanExporter
) -> None:
    url, spans = traced
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/v1/me", headers=USER)).status_code == 200
    finished = {span.name: span for span in spans.get_finished_spans()}
    server = finished["GET /v1/me"]
    call = finished["accounts.get_user"]
    cache = finished["cache accounts.get_user"]
    assert call.parent is not None and call.parent.span_id == server.context.span_id
    assert cache.parent is not None and cache.parent.span_id == server.context.span_id
    assert call.attributes is not None
    assert call.attributes["bff.region"] == "eu-west-1"
    assert call.attributes["bff.attempt"] == 1
    assert call.attributes["bff.breaker_state"] == "closed"
    assert call.attributes["bff.outcome"] == "success"
    assert cache.attributes is not None and cache.attributes["bff.cache"] == "miss"
    [standin] = [s for s in standin_spans.get_finished_spans() if s.name.startswith("accounts GET /users/")]
    assert standin.context.trace_id == server.context.trace_id
    assert standin.parent is not None and standin.parent.span_id == call.context.span_id


async def test_the_callers_trace_is_continued(traced: tuple[str, InMemorySpanExporter]) -> None:
    url, spans = traced
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**USER, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.get("/v1/me", headers=headers)
    server = next(s for s in spans.get_finished_spans() if s.name == "GET /v1/me")
    assert format(server.context.trace_id, "032x") == trace_id


async def test_no_pii_in_any_span_attribute(traced: tuple[str, InMemorySpanExporter], upstreams: Standins) -> None:
    url, spans = traced
    raw = upstreams.http.get(f"{upstreams.url('accounts')}/users/7").json()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await client.get("/v1/me", headers=USER)
        await client.get("/v1/home", headers=USER)
    blob = orjson.dumps([dict(s.attributes or {}) | {"name": s.name} for s in spans.get_finished_spans()])
    for value in (raw["email"], raw["phone"], raw["name"], raw["address"]["street"]):
        assert value.encode() not in blob


FAMILIES = [
    "bff_build_info",
    "bff_http_requests_total",
    "bff_http_request_duration_seconds_bucket",
    "bff_http_requests_in_flight",
    "bff_upstream_calls_total",
    "bff_upstream_call_duration_seconds_bucket",
    "bff_breaker_state",
    "bff_breaker_forced",
    "bff_breaker_transitions_total",
    "bff_upstream_retries_total",
    "bff_retry_budget_exhausted_total",
    "bff_bulkhead_rejections_total",
    "bff_cache_requests_total",
    "bff_cache_errors_total",
    "bff_cache_available",
    "bff_screen_cache_total",
    "bff_screen_cache_bytes",
]


def samples(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            found.setdefault(name, []).append(line)
    return found


async def test_metrics_expose_every_family_with_labels_after_traffic(mobile: httpx.AsyncClient) -> None:
    await mobile.get("/v1/home", headers=USER)
    await mobile.get("/v1/home", headers=USER)
    text = (await mobile.get("/metrics")).text
    found = samples(text)
    missing = [family for family in FAMILIES if family not in found]
    assert missing == []
    assert any('route="/v1/home"' in line and 'status="200"' in line for line in found["bff_http_requests_total"])
    assert any('upstream="catalog"' in s and 'outcome="success"' in s for s in found["bff_upstream_calls_total"])
    assert any('result="hit"' in line for line in found["bff_cache_requests_total"])
    assert any('event="hit"' in line and not line.endswith(" 0.0") for line in found["bff_screen_cache_total"])
    assert any('track="stable"' in line for line in found["bff_build_info"])


async def test_a_forced_open_breaker_shows_in_its_gauge(
    mobile: httpx.AsyncClient, mobile_admin: httpx.AsyncClient
) -> None:
    await mobile_admin.put("/admin/breakers/orders/eu-west-1", json={"force": "open"}, headers=ADMIN)
    found = samples((await mobile.get("/metrics")).text)
    assert 'bff_breaker_state{region="eu-west-1",upstream="orders"} 2.0' in found["bff_breaker_state"]
    assert 'bff_breaker_forced{region="eu-west-1",upstream="orders"} 1.0' in found["bff_breaker_forced"]


@contextlib.contextmanager
def json_log_lines() -> Iterator[io.StringIO]:
    """Every log line of the block, as the JSON the processes write, in a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def request_line_written(stream: io.StringIO) -> None:
    """The server writes its request line once the answer has gone out: wait for it."""
    for _ in range(500):
        if '"msg":"request"' in stream.getvalue():
            return
        await asyncio.sleep(0.01)


async def test_every_log_line_is_json_with_the_trace_id(traced: tuple[str, InMemorySpanExporter]) -> None:
    url, _ = traced
    with json_log_lines() as stream:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            await client.get("/v1/home", headers={"X-User-Id": "9", "X-Request-Id": "log-test-1"})
        await request_line_written(stream)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line.get("request_id") == "log-test-1"]
    assert {line["msg"] for line in ours} >= {"request", "upstream call"}
    assert len([line for line in ours if line["msg"] == "upstream call"]) == 5
    assert all(len(line["trace_id"]) == 32 for line in ours)
    request_line = next(line for line in ours if line["msg"] == "request")
    assert (request_line["route"], request_line["status"]) == ("/v1/home", 200)


async def test_by_default_a_healthy_request_writes_one_line_and_no_upstream_call_lines(upstreams: Standins) -> None:
    with json_log_lines() as stream, serve_mobile(mobile_settings(upstreams)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            answer = await client.get("/v1/home", headers={"X-User-Id": "9", "X-Request-Id": "log-test-2"})
        await request_line_written(stream)
    assert answer.status_code == 200
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line["msg"] for line in lines if line.get("request_id") == "log-test-2"]
    assert ours == ["request"]


def test_log_lines_redact_what_looks_like_personal_data() -> None:
    record = logging.makeLogRecord({"msg": "mail anna.keller7@example.com call +49 151 2345 6789", "levelno": 20})
    line = orjson.loads(JsonFormatter().format(record))
    assert "anna" not in line["msg"]
    assert "2345" not in line["msg"]


async def test_an_unsampled_request_starts_no_client_span_yet_is_counted(upstreams: Standins) -> None:
    spans = InMemorySpanExporter()
    settings = mobile_settings(upstreams, telemetry={"sampling_ratio": 0.0})
    with serve_mobile(settings, span_exporter=spans) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/v1/home", headers={"X-User-Id": "11"})).status_code == 200
            metrics = (await client.get("/metrics")).text
    assert spans.get_finished_spans() == ()
    assert 'bff_upstream_calls_total{operation="get_user",outcome="success"' in metrics
    assert (
        'bff_http_requests_total{method="GET",platform="unknown",process="bff_mobile",route="/v1/home",'
        'status="200",version="unknown"} 1.0'
    ) in metrics


async def test_requests_are_labelled_by_client_cohort_and_a_bad_value_is_counted_not_refused(
    upstreams: Standins,
) -> None:
    cohorts = [
        ({"X-Client-Platform": "Android", "X-App-Version": "4.2.1"}, 'platform="android"', 'version="4.2"'),
        ({"X-Client-Platform": "ios", "X-App-Version": "5.0.0-beta.1+b7"}, 'platform="ios"', 'version="5.0"'),
        ({"X-Client-Platform": "toaster", "X-App-Version": "latest"}, 'platform="other"', 'version="other"'),
    ]
    with serve_mobile(mobile_settings(upstreams)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for headers, _, _ in cohorts:
                assert (await client.get("/v1/products/42", headers=headers)).status_code == 200
            twice = [("X-Client-Platform", "ios"), ("X-Client-Platform", "web")]
            assert (await client.get("/v1/products/42", headers=twice)).status_code == 200
            metrics = (await client.get("/metrics")).text
    requests = [line for line in metrics.splitlines() if line.startswith("bff_http_requests_total{")]
    for _, platform, version in cohorts:
        assert any(
            platform in line and version in line and 'route="/v1/products/{product_id}"' in line for line in requests
        )
    durations = [line for line in metrics.splitlines() if line.startswith("bff_http_request_duration_seconds_count")]
    assert any('platform="android"' in line and 'version="4.2"' in line for line in durations)
    assert 'bff_client_identity_invalid_total{header="platform"} 2.0' in metrics  # toaster, and ios+web
    assert 'bff_client_identity_invalid_total{header="version"} 1.0' in metrics


async def test_telemetry_off_drops_request_spans_and_metrics_but_keeps_the_live_state(upstreams: Standins) -> None:
    spans = InMemorySpanExporter()
    settings = mobile_settings(upstreams, telemetry={"enabled": False, "sampling_ratio": 1.0})
    with serve_mobile(settings, span_exporter=spans) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/v1/home", headers={"X-User-Id": "12"})).status_code == 200
            metrics = (await client.get("/metrics")).text
    assert spans.get_finished_spans() == ()
    assert "bff_http_requests_total{" not in metrics
    assert "bff_upstream_calls_total{" not in metrics
    assert 'bff_breaker_state{region="eu-west-1",upstream="orders"} 0.0' in metrics
