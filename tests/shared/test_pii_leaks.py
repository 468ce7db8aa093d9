"""No seeded personal data in what bff_mobile and bff_web write down (issue 7).

Both processes run over loopback against the real stand-ins, sharing a real Redis. Every
endpoint in each process's served /openapi.json and every field of GraphQL's ``Query`` and
``Viewer`` is driven for several seeded users: answered requests, bad input, unknown ids
and routes, each upstream failing, and inputs that carry the users' personal data
themselves (a client may see its own input echoed in its answer, but nothing may write it
down). Then every formatted log line, every span and every raw Redis key and value is
scanned for the users' seeded values, case-insensitively and in common transforms.

The same answers are compared with the exposures each process declares for
``bff pii report``: every field that shows personal data is declared, and every
declaration is really shown.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import pytest
import redis
from graphql import (
    FieldNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    parse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.pii import Exposure, mask_email, mask_phone, mask_text
from shared.process import discover_processes
from shared.telemetry.logs import BufferedLineHandler, configure_logging
from tests.support import Standins, mobile_settings, serve_mobile, serve_web, web_settings

REDIS_URL = "redis://127.0.0.1:6379/14"
#: NL, JP, DE (an umlaut), FR (accents), US: every postal code and phone format.
USERS = (2, 8, 14, 16, 33)
#: Users first seen while an upstream fails, plus 100 per fault switched on before (so
#: nothing of theirs is cached yet).
FAULT_USERS = {"accounts": 20, "orders": 27, "catalog": 29, "inventory": 36, "recommendations": 37}
UNKNOWN_USER = "5000"
PERSISTED = Path(__file__).parents[2] / "bff_web" / "persisted_queries.json"

GRAPHQL = {
    "profile": "query Profile { viewer { profile { id name email phone address { street postalCode city country }"
    " homeRegion memberSince } } }",
    "orders": "query Orders { viewer { orders(first: 3) { items { id status placedAt total { amount currency }"
    " itemCount items { quantity product { id name } } } nextCursor } } }",
    "recommendations": "query Picks { viewer { recommendations(first: 3) { score product { id name } } } }",
    "product": "query Product($id: ID!) { product(id: $id) { id name stock { available inStock }"
    " related(first: 2) { id name } } }",
    "search": "query Search($q: String!) { search(query: $q, first: 3) { total nextCursor items { id name } } }",
}

#: The browser session cookies (bff_web's default ``sessions.cookie_name``).
SESSION_COOKIE = "__Host-bff_session"
LOGIN_COOKIE = f"{SESSION_COOKIE}-login"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not redis_up(), reason="no Redis at 127.0.0.1:6379")


# --- what is searched for -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Needle:
    user: int
    what: str
    text: str


def needles(profile: dict[str, Any]) -> list[Needle]:
    """The user's seeded personal data, as seeded and in the forms a leak would take."""
    address = profile["address"]
    seeded = {
        "name": profile["name"],
        "email": profile["email"],
        "email local part": profile["email"].partition("@")[0],
        "phone": profile["phone"],
        "phone digits": "".join(c for c in profile["phone"] if c.isdigit()),
        "address.street": address["street"],
        "birth_date": profile["birth_date"],
    }
    # A four- or five-digit postal code turns up in durations and ports by chance.
    if len(address["postal_code"]) >= 6:
        seeded["address.postal_code"] = address["postal_code"]
    forms: dict[str, str] = {}
    for what, value in seeded.items():
        forms.setdefault(value, what)
        forms.setdefault(quote(value, safe=""), f"{what}, percent-encoded")
        forms.setdefault(quote_plus(value), f"{what}, form-encoded")
        forms.setdefault(json.dumps(value)[1:-1], f"{what}, JSON-escaped")
    return [Needle(profile["id"], what, text) for text, what in forms.items()]


def leaks(searched: Iterable[Needle], places: Iterable[tuple[str, str]]) -> list[str]:
    """``where: user N's what … context`` for every needle found in a ``(where, text)``,
    ignoring case."""
    folded_needles = [(needle, needle.text.casefold()) for needle in searched]
    found = []
    for where, text in places:
        folded = text.casefold()
        for needle, folded_needle in folded_needles:
            at = folded.find(folded_needle)
            if at >= 0:
                context = text[max(0, at - 80) : at + len(needle.text) + 80]
                found.append(f"{where}: user {needle.user}'s {needle.what} {needle.text!r} in …{context}…")
    return found


def report(found: list[str]) -> str:
    return f"{len(found)} leak(s):\n" + "\n".join(found[:40])


def pii_inputs(profile: dict[str, Any]) -> list[str]:
    """The user's personal data as a client might send it in a parameter, header or body."""
    return [
        profile["email"],
        profile["name"],
        profile["phone"],
        "".join(c for c in profile["phone"] if c.isdigit()),  # passes an order id's pattern
        profile["birth_date"],
        profile["email"].partition("@")[0],
    ]


# --- what the processes write ---------------------------------------------------------


@contextmanager
def written_log_lines(flush_seconds: float) -> Iterator[list[str]]:
    """Log as a process does at ``log_level: debug`` (``configure_logging``), into a buffer:
    line by line, or batched (``flush_seconds`` above 0, where request and upstream-call
    lines are built without a ``LogRecord``).

    The test's own HTTP clients log on the test's thread; only the processes' lines count."""
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values())]
    saved = [
        (logger, logger.level, list(logger.handlers), logger.propagate)
        for logger in loggers
        if isinstance(logger, logging.Logger)
    ]
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    configure_logging("debug", flush_seconds=flush_seconds)
    [handler] = logging.getLogger().handlers
    stream = io.StringIO()
    if isinstance(handler, BufferedLineHandler):
        handler.stream = stream
    else:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    test_thread = threading.get_ident()
    handler.addFilter(lambda record: threading.get_ident() != test_thread)
    lines: list[str] = []
    try:
        yield lines
    finally:
        handler.close()  # writes out what a batching handler still holds
        for logger, level, handlers, propagate in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags
        lines += stream.getvalue().splitlines()


def redis_contents(store: redis.Redis) -> dict[str, bytes]:
    """Every key of the database with its raw contents, whatever its type."""
    readers: dict[bytes, Callable[[bytes], Iterable[Any]]] = {
        b"string": lambda key: [store.get(key) or b""],
        b"hash": lambda key: [part for item in store.hgetall(key).items() for part in item],
        b"set": lambda key: store.smembers(key),
        b"list": lambda key: store.lrange(key, 0, -1),
        b"zset": lambda key: store.zrange(key, 0, -1),
    }
    contents = {}
    for key in store.scan_iter(count=1000):
        kind = store.type(key)
        if kind == b"none":  # expired meanwhile
            continue
        assert kind in readers, f"Redis key {key!r} is a {kind!r}; teach redis_contents to read it"
        parts = readers[kind](key)
        contents[key.decode("utf-8", "replace")] = b"\n".join(
            p if isinstance(p, bytes) else str(p).encode() for p in parts
        )
    return contents


def span_strings(span: ReadableSpan) -> str:
    """Name, attributes, events, links, status and resource of ``span``, JSON unescaped."""
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                strings.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            strings.append(str(value))

    walk(json.loads(span.to_json()))
    return "\n".join(strings)


# --- the traffic ----------------------------------------------------------------------


@dataclass(slots=True)
class Capture:
    profiles: dict[int, dict[str, Any]]
    accounts_answers: dict[int, str]
    #: ``(process, label, status, body)`` of every request sent.
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)
    #: ``(process, "METHOD /path")`` of every endpoint in each served /openapi.json.
    endpoints: set[tuple[str, str]] = field(default_factory=set)
    #: ``(process, "METHOD /path")`` of endpoints whose plain request was answered 2xx.
    answered: set[tuple[str, str]] = field(default_factory=set)
    #: ``(process, user, "METHOD /path" or "graphql", JSON)`` of plain requests answered 2xx.
    shown: list[tuple[str, int, str, Any]] = field(default_factory=list)
    #: bff_web's GraphQL schema, as served (introspection).
    graphql_schema: GraphQLSchema | None = None
    log_lines: list[str] = field(default_factory=list)
    spans: list[ReadableSpan] = field(default_factory=list)
    redis: dict[str, bytes] = field(default_factory=dict)

    @property
    def needles(self) -> list[Needle]:
        return [needle for profile in self.profiles.values() for needle in needles(profile)]


@dataclass(frozen=True, slots=True)
class RestOperation:
    method: str
    path: str
    params: list[dict[str, Any]]
    body: dict[str, Any] | None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def rest_operations(document: dict[str, Any]) -> list[RestOperation]:
    """Every operation, with the header and cookie credentials its security declares taken
    as parameters (in trusted_header mode the caller is the ``X-User-Id`` header)."""
    schemes = document.get("components", {}).get("securitySchemes", {})
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            # The first way of authenticating the operation lists (never two at once: a
            # caller named twice is refused as ambiguous).
            first: dict[str, Any] = next((req for req in operation.get("security", []) if req), {})
            credentials = [
                {"name": schemes[name]["name"], "in": schemes[name]["in"]}
                for name in first
                if schemes.get(name, {}).get("type") == "apiKey"
            ]
            found.append(RestOperation(method.upper(), path, [*operation.get("parameters", []), *credentials], body))
    return found


def sample_body(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The smallest valid instance of ``schema`` (objects, arrays, integers, strings)."""
    if "$ref" in schema:
        return sample_body(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {name: sample_body(sub, components) for name, sub in schema["properties"].items() if name in required}
    if kind == "array":
        return [sample_body(schema["items"], components)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return schema["minimum"] if "minimum" in schema else schema.get("exclusiveMinimum", 0) + 1
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    pytest.fail(f"sample_body cannot build a {kind!r} yet; teach it")


def with_leaves(body: Any, value: str) -> Any:
    """``body`` with every scalar replaced by ``value``."""
    if isinstance(body, dict):
        return {key: with_leaves(item, value) for key, item in body.items()}
    if isinstance(body, list):
        return [with_leaves(item, value) for item in body]
    return value


def _cookie(answer: httpx.Response, name: str) -> str:
    """The value ``answer`` sets for cookie ``name`` (one ``Set-Cookie`` line per cookie)."""
    line = next(line for line in answer.headers.get_list("set-cookie") if line.startswith(f"{name}="))
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(line)
    return cookie[name].value


class Traffic:
    def __init__(self, standins: Standins, http: httpx.Client, capture: Capture) -> None:
        self.standins = standins
        self.http = http
        self.capture = capture

        self.first_orders: dict[int, str] = {}

    def prepare(self, user: int) -> dict[str, Any]:
        """Read ``user``'s seeded profile and first order straight from the stand-ins
        (before any fault is switched on)."""
        if user not in self.capture.profiles:
            answer = self.standins.http.get(f"{self.standins.url('accounts')}/users/{user}").raise_for_status()
            self.capture.profiles[user] = answer.json()
            self.capture.accounts_answers[user] = answer.text
            orders = self.standins.http.get(f"{self.standins.url('orders')}/users/{user}/orders").raise_for_status()
            items = orders.json()["items"]
            self.first_orders[user] = items[0]["id"] if items else "o-unknown"
        return self.capture.profiles[user]

    def send(self, process: str, label: str, method: str, url: str, **options: Any) -> httpx.Response:
        if "headers" in options:  # names and addresses are not ASCII: send them as UTF-8
            options["headers"] = {key: value.encode() for key, value in options["headers"].items()}
        answer = self.http.request(method, url, **options)
        self.capture.answers.append((process, label, answer.status_code, answer.text))
        return answer

    # REST

    def start_sign_in(self, base: str, user: int) -> dict[str, str | None]:
        """/auth/login, then the identity stand-in: what the callback is called with."""
        started = self.http.get(f"{base}/auth/login", params={"login_hint": str(user)})
        assert started.status_code == 302, started.text
        approved = self.http.get(started.headers["location"])
        assert approved.status_code == 302, approved.text
        answer = parse_qs(urlsplit(approved.headers["location"]).query)
        login = _cookie(started, LOGIN_COOKIE)
        return {"code": answer["code"][0], "state": answer["state"][0], LOGIN_COOKIE: login}

    def signed_in(self, base: str, user: int) -> dict[str, str | None]:
        """A whole sign-in: the session cookie and its CSRF token."""
        flow = self.start_sign_in(base, user)
        done = self.http.get(
            f"{base}/auth/callback",
            params={"code": flow["code"], "state": flow["state"]},
            headers={"Cookie": f"{LOGIN_COOKIE}={flow[LOGIN_COOKIE]}"},
        )
        assert done.status_code == 303, done.text
        session = _cookie(done, SESSION_COOKIE)
        described = self.http.get(f"{base}/auth/session", headers={"Cookie": f"{SESSION_COOKIE}={session}"})
        return {SESSION_COOKIE: session, "X-CSRF-Token": described.raise_for_status().json()["csrf_token"]}

    def samples(self, base: str, user: int, operation: RestOperation) -> dict[str, str | None]:
        known: dict[str, str | None] = {
            "X-User-Id": str(user),
            "Idempotency-Key": uuid.uuid4().hex,
            "product_id": str(40 + user),
            "order_id": self.first_orders[user],
            "region": "eu",
            "limit": "3",
            "cursor": None,  # the first page has none
            # The sign-in routes, driven through real sign-ins (below).
            "return_to": "/orders",
            "login_hint": str(user),
            "error": None,
            # The app's identity: a real cohort, so the answer is the one an app gets.
            "X-Client-Platform": "android",
            "X-App-Version": "4.2.0",
        }
        names = {param["name"] for param in operation.params}
        if "state" in names:  # the callback: a sign-in started for the user
            known |= self.start_sign_in(base, user)
        if SESSION_COOKIE in names:  # a signed-in browser, and its CSRF token
            known |= self.signed_in(base, user)
        values = {}
        for param in operation.params:
            if param["name"] not in known:
                pytest.fail(f"no sample value for parameter {param['name']!r} of {operation.name}; add one")
            values[param["name"]] = known[param["name"]]
        return values

    def rest(
        self,
        process: str,
        base: str,
        operation: RestOperation,
        values: dict[str, str | None],
        body: Any,
        label: str,
        **extra: Any,
    ) -> httpx.Response:
        path, query, headers = operation.path, dict(extra.pop("params", {})), dict(extra.pop("headers", {}))
        jar: list[str] = []
        for param in operation.params:
            value = values.get(param["name"])
            if value is None:
                continue
            if param["in"] == "path":
                path = path.replace("{" + param["name"] + "}", quote(value, safe=""))
            elif param["in"] == "query":
                query[param["name"]] = value
            elif param["in"] == "header":
                headers[param["name"]] = value
            else:  # a cookie, sent by hand: httpx keeps Secure cookies off plain http
                jar.append(f"{param['name']}={value}")
        if jar:
            headers["Cookie"] = "; ".join(jar)
        if operation.body is not None and "content" not in extra:
            extra["json"] = body
        return self.send(
            process, f"{label} {operation.name}", operation.method, base + path, params=query, headers=headers, **extra
        )

    def drive_rest(self, process: str, base: str, user: int, *, with_pii_inputs: bool) -> None:
        document = self.http.get(f"{base}/openapi.json").raise_for_status().json()
        components = document.get("components", {}).get("schemas", {})
        profile = self.prepare(user)
        for operation in rest_operations(document):
            self.capture.endpoints.add((process, operation.name))
            values = self.samples(base, user, operation)
            body = sample_body(operation.body, components) if operation.body is not None else None
            answer = self.rest(process, base, operation, values, body, "plain")
            if answer.is_success or answer.is_redirect:  # the sign-in routes answer with redirects
                self.capture.answered.add((process, operation.name))
                if answer.headers.get("content-type", "").startswith("application/json"):
                    self.capture.shown.append((process, user, operation.name, answer.json()))
            # Unknown user: accounts (or orders) answers 404.
            self.rest(process, base, operation, values | {"X-User-Id": UNKNOWN_USER}, body, "unknown user")
            if not with_pii_inputs:
                continue
            email, name = profile["email"], profile["name"]
            self.rest(
                process,
                base,
                operation,
                values,
                body,
                "PII in headers and query",
                params={"email": email, "name": name, "phone": profile["phone"]},
                headers={
                    "X-Customer-Email": email,
                    "X-Request-Id": email,
                    "User-Agent": f"ShopApp/1.0 ({name}; {profile['phone']})",
                    "Referer": f"https://shop.example/account?email={quote(email)}&name={quote_plus(name)}",
                    "Cookie": f"email={quote(email)}; name={quote(name)}",
                },
            )
            for value in pii_inputs(profile):
                for param in operation.params:
                    self.rest(
                        process, base, operation, values | {param["name"]: value}, body, f"PII in {param['name']}"
                    )
                if body is not None:
                    self.rest(process, base, operation, values, with_leaves(body, value), "PII in every body field")
                    self.rest(process, base, operation, values, body | {"note": value}, "PII in an extra body field")
                    self.rest(
                        process,
                        base,
                        operation,
                        values,
                        body,
                        "PII in a body that is not JSON",
                        content=f"email={value}",
                        headers={"Content-Type": "application/json"},
                    )
        self.send(process, "unknown route", "GET", f"{base}/v1/users/{quote(profile['email'])}")

    # GraphQL

    def graphql(
        self, base: str, label: str, payload: Any, user: str | None, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"Accept": "application/graphql-response+json", **(headers or {})}
        if user is not None:
            sent["X-User-Id"] = user
        return self.send("web", f"graphql {label}", "POST", f"{base}/graphql", json=payload, headers=sent)

    def graphql_schema(self, base: str) -> None:
        answer = self.http.post(f"{base}/graphql", json={"query": get_introspection_query()}).raise_for_status()
        self.capture.graphql_schema = build_client_schema(answer.json()["data"])

    def drive_graphql(self, base: str, user: int, *, with_pii_inputs: bool) -> None:
        profile = self.prepare(user)
        variables = {"id": str(40 + user), "q": "shoe"}
        for name, document in GRAPHQL.items():
            answer = self.graphql(base, name, {"query": document, "variables": variables}, str(user))
            if answer.is_success and "errors" not in answer.json():
                self.capture.shown.append(("web", user, "graphql", answer.json()["data"]))
            self.graphql(base, f"{name} unknown user", {"query": document, "variables": variables}, UNKNOWN_USER)
        self.graphql(base, "batch", [{"query": d, "variables": variables} for d in GRAPHQL.values()], str(user))
        if not with_pii_inputs:
            return
        for value in pii_inputs(profile):
            self.graphql(base, "PII as search text", {"query": GRAPHQL["search"], "variables": {"q": value}}, str(user))
            self.graphql(
                base, "PII as product id", {"query": GRAPHQL["product"], "variables": {"id": value}}, str(user)
            )
            self.graphql(base, "PII as X-User-Id", {"query": GRAPHQL["profile"]}, value)
            inline = json.dumps(value)
            self.graphql(
                base, "PII in a broken document", {"query": f"query {{ search(query: {inline}) {{ total }}"}, None
            )
            self.graphql(
                base, "PII in an invalid document", {"query": f"{{ product(id: {inline}) {{ nosuch }} }}"}, None
            )
            self.graphql(base, "PII as operation name", {"query": GRAPHQL["search"], "operationName": value}, str(user))
            self.graphql(
                base,
                "PII in an unknown persisted query",
                {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": value}}},
                str(user),
            )
            self.graphql(
                base,
                "PII in extra variables and headers",
                {"query": GRAPHQL["profile"], "variables": {"email": value}},
                str(user),
                headers={"X-Customer-Email": profile["email"], "User-Agent": profile["name"]},
            )
        params = {"query": GRAPHQL["search"], "variables": json.dumps({"q": profile["email"]})}
        self.send("web", "graphql GET with PII", "GET", f"{base}/graphql", params=params, headers={"X-User-Id": "1"})

    def drive_faults(self, mobile: str, web: str) -> None:
        """Each upstream failing in every region, for a user nothing is cached of yet."""
        faults: list[tuple[str, dict[str, Any]]] = [
            (upstream, {"error_rate": 1.0, "error_status": 500}) for upstream in FAULT_USERS
        ]
        faults += [("accounts", {"wrong_shape": True}), ("accounts", {"garbage": True}), ("orders", {"down": True})]
        for number, (upstream, fault) in enumerate(faults):
            user = FAULT_USERS[upstream] + 100 * number
            self.prepare(user)
            self.standins.fault(upstream, "*", **fault)
            try:
                self.drive_rest("mobile", mobile, user, with_pii_inputs=False)
                self.drive_rest("web", web, user, with_pii_inputs=False)
                self.drive_graphql(web, user, with_pii_inputs=False)
                # An order id carrying a phone number, answered by a failing upstream.
                digits = pii_inputs(self.prepare(user))[3]
                headers = {"X-User-Id": str(user)}
                self.send(
                    "mobile", "PII order id, upstream failing", "GET", f"{mobile}/v1/orders/{digits}", headers=headers
                )
            finally:
                self.standins.reset()


def cache_config(prefix: str) -> dict[str, Any]:
    return {
        "redis_url": REDIS_URL,
        "prefix": prefix,
        "hmac_key": "pii-scan-hmac-key",
        "encryption_keys": {"k1": base64.b64encode(b"1" * 32).decode()},
        "active_key_id": "k1",
    }


@pytest.fixture(scope="module", params=[0.0, 3600.0], ids=["logs-line-by-line", "logs-batched"])
def capture(standins: Standins, request: pytest.FixtureRequest) -> Iterator[Capture]:
    prefix = f"piiscan{uuid.uuid4().hex[:10]}"
    generous = {"per_second": 100_000, "burst": 100_000}
    common: dict[str, Any] = {
        "cache": cache_config(prefix),
        "telemetry": {"sampling_ratio": 1.0, "log_upstream_calls": True},
        "rate_limit": {"enabled": True, "per_client": generous, "total": generous, "routes": {}},
        "log_level": "debug",
    }
    mobile_spans, web_spans = InMemorySpanExporter(), InMemorySpanExporter()
    captured = Capture(profiles={}, accounts_answers={})
    store = redis.Redis.from_url(REDIS_URL)
    standins.reset()
    try:
        with (
            written_log_lines(request.param) as lines,
            serve_mobile(mobile_settings(standins, **common), span_exporter=mobile_spans) as mobile,
            serve_web(
                web_settings(
                    standins,
                    **common,
                    graphql={"persisted_queries_file": str(PERSISTED)},
                ),
                span_exporter=web_spans,
            ) as web,
            httpx.Client(timeout=10) as http,
        ):
            traffic = Traffic(standins, http, captured)
            traffic.graphql_schema(web)
            for user in USERS:
                traffic.drive_rest("mobile", mobile, user, with_pii_inputs=True)
                traffic.drive_rest("web", web, user, with_pii_inputs=True)
                traffic.drive_graphql(web, user, with_pii_inputs=True)
            traffic.drive_faults(mobile, web)
            captured.redis = redis_contents(store)
        captured.log_lines = lines
        captured.spans = [*mobile_spans.get_finished_spans(), *web_spans.get_finished_spans()]
        yield captured
    finally:
        standins.reset()
        keys = list(store.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            store.delete(*keys)
        store.close()


# --- the scans ------------------------------------------------------------------------


def test_no_seeded_personal_data_in_any_log_line(capture: Capture) -> None:
    places = ((f"log line {i}", line) for i, line in enumerate(capture.log_lines))
    found = leaks(capture.needles, places)
    assert found == [], report(found)


def test_no_seeded_personal_data_in_any_span(capture: Capture) -> None:
    places = ((f"span {span.name!r}", span_strings(span)) for span in capture.spans)
    found = leaks(capture.needles, places)
    assert found == [], report(found)


def test_no_seeded_personal_data_in_any_raw_redis_key_or_value(capture: Capture) -> None:
    places = ((f"Redis key {key}", key + "\n" + raw.decode("utf-8", "replace")) for key, raw in capture.redis.items())
    found = leaks(capture.needles, places)
    assert found == [], report(found)


# --- proof that the scans look at something real ----------------------------------------


def test_the_values_searched_for_are_in_the_accounts_answers(capture: Capture) -> None:
    assert set(capture.profiles) >= set(USERS) and len(capture.profiles) >= len(USERS) + len(FAULT_USERS)
    for user, answer in capture.accounts_answers.items():
        as_seeded = [n for n in needles(capture.profiles[user]) if "," not in n.what and n.what != "phone digits"]
        found = leaks(as_seeded, [("accounts", answer)])
        assert len(found) == len(as_seeded) >= 6, (user, found)


def test_the_processes_handled_the_users_personal_data(capture: Capture) -> None:
    # Both processes show the full name to its owner: the data went through them.
    for user in USERS:
        name = capture.profiles[user]["name"]
        shown = {process for process, _, status, body in capture.answers if status == 200 and name in body}
        assert shown == {"mobile", "web"}, (user, shown)


def test_the_scanned_places_are_full(capture: Capture) -> None:
    assert len(capture.log_lines) > 1000
    assert any('"msg":"upstream call"' in line for line in capture.log_lines)
    assert any('"logger":"bff.errors"' in line for line in capture.log_lines)
    services = {span.resource.attributes.get("service.name") for span in capture.spans}
    assert services == {"bff_mobile", "bff_web"}
    assert any(span.name == "accounts.get_user" for span in capture.spans)
    sealed_users = [key for key in capture.redis if ":accounts.get_user:" in key and not key.endswith(":lock")]
    assert len(sealed_users) >= len(USERS)
    assert len(capture.redis) > 50


def test_every_served_endpoint_was_driven_and_answered(capture: Capture) -> None:
    assert {process for process, _ in capture.endpoints} == {"mobile", "web"}
    assert capture.answered == capture.endpoints
    served = {
        (str(span.resource.attributes["service.name"]).removeprefix("bff_"), span.name)
        for span in capture.spans
        if span.kind.name == "SERVER"
    }
    assert capture.endpoints <= served


def fields_used(document: str) -> set[str]:
    used = set()
    for definition in parse(document).definitions:
        assert isinstance(definition, OperationDefinitionNode)
        for top in definition.selection_set.selections:
            assert isinstance(top, FieldNode)
            used.add(f"query.{top.name.value}")
            if top.name.value == "viewer" and isinstance(top.selection_set, SelectionSetNode):
                used |= {f"viewer.{f.name.value}" for f in top.selection_set.selections if isinstance(f, FieldNode)}
    return used


def test_every_graphql_query_and_viewer_field_was_driven(capture: Capture) -> None:
    schema = capture.graphql_schema
    assert schema is not None and schema.query_type is not None
    viewer = schema.get_type("Viewer")
    assert isinstance(viewer, GraphQLObjectType)
    served = {f"query.{name}" for name in schema.query_type.fields} | {f"viewer.{name}" for name in viewer.fields}
    used = set().union(*(fields_used(document) for document in GRAPHQL.values()))
    assert served <= used


# --- what the answers show, against the declared exposures (``bff pii report``) ----------


def shown_forms(profile: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each way an answer may show the user's personal data: text → (PII field, how)."""
    address = profile["address"]
    return {
        profile["name"]: ("name", "full"),
        profile["email"]: ("email", "full"),
        mask_email(profile["email"]): ("email", "masked"),
        profile["phone"]: ("phone", "full"),
        mask_phone(profile["phone"]): ("phone", "masked"),
        address["street"]: ("address.street", "full"),
        mask_text(address["street"]): ("address.street", "masked"),
        address["postal_code"]: ("address.postal_code", "full"),
        mask_text(address["postal_code"], keep=2): ("address.postal_code", "masked"),
        profile["birth_date"]: ("birth_date", "full"),
    }


@dataclass(frozen=True, slots=True)
class Shown:
    """One answer field showing personal data, under every name a declaration may give it."""

    process: str
    #: ``(where, field)`` pairs: ``("GET /v1/me", "address.street")``, or for GraphQL one per
    #: schema coordinate on the way (``("graphql Viewer.profile", "address.street")``).
    names: frozenset[tuple[str, str]]
    source: str
    how: str


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):  # list items share their field's name
        for item in value:
            yield from leaves(item, path)
    elif isinstance(value, str):
        yield path, value


def graphql_names(schema: GraphQLSchema, path: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    names = set()
    parent = schema.query_type
    for depth, segment in enumerate(path):
        assert isinstance(parent, GraphQLObjectType), path
        names.add((f"graphql {parent.name}.{segment}", ".".join(path[depth + 1 :])))
        parent = get_named_type(parent.fields[segment].type)
    return frozenset(names)


def shown_personal_data(capture: Capture) -> list[Shown]:
    schema = capture.graphql_schema
    assert schema is not None
    found = []
    for process, user, where, body in capture.shown:
        profile = capture.profiles[user]
        forms = shown_forms(profile)
        first_name = profile["name"].split()[0]
        for path, text in leaves(body):
            if text in forms:
                source, how = forms[text]
            elif first_name in text.split() or f"{first_name}," in text or f"{first_name}!" in text:
                source, how = "name", "first name only"
            else:
                continue
            names = graphql_names(schema, path) if where == "graphql" else frozenset({(where, ".".join(path))})
            found.append(Shown(process, names, source, how))
    return found


def declared_exposures() -> list[tuple[str, Exposure]]:
    return [(process, exposure) for process, spec in discover_processes().items() for exposure in spec.pii_exposures()]


def test_every_answer_field_showing_personal_data_is_declared_as_shown(capture: Capture) -> None:
    declared = declared_exposures()
    undeclared = [
        shown
        for shown in shown_personal_data(capture)
        if not any(
            process == shown.process
            and (exposure.where, exposure.field) in shown.names
            and exposure.source == shown.source
            and exposure.shown.startswith(shown.how)
            for process, exposure in declared
        )
    ]
    assert undeclared == []


def test_every_declared_exposure_is_shown_by_its_process(capture: Capture) -> None:
    shown = shown_personal_data(capture)
    unseen = [
        (process, exposure)
        for process, exposure in declared_exposures()
        if not any(
            s.process == process and (exposure.where, exposure.field) in s.names and s.source == exposure.source
            for s in shown
        )
    ]
    assert unseen == []
