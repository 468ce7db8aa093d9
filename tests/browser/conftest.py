"""The browser tests' parts: Debian's headless Chromium driven by Playwright, the
reference client served on origins of its own, and two bff_web instances sharing a
redis-server of the tests' own.

::

    browser          one headless Chromium per module; new_profile() a fresh profile in it
    client_origins   the reference client on .listed (in server.cors_origins) and .unlisted
    web              two bff_web on fixed free ports (each its own /auth/callback) sharing
                     one redis-server of the module's own; reset after each test

Only a browser decides what these tests check (cookie storage, CORS, the HTTP cache), so
nothing here stands in for it. No browser is downloaded: ``CHROMIUM`` is the machine's.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, expect, sync_playwright
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from bff_web.app import create_app
from bff_web.settings import WebSettings
from shared.cli.servers import ServerThread
from tests.support import ServedUrl, Standins, free_port, own_redis_server, reset_bff, web_settings

CHROMIUM = Path(os.environ.get("BFF_CHROMIUM", "/usr/bin/chromium"))
CLIENT_DIR = Path(__file__).parents[2] / "bff_web" / "reference_client"
PERSISTED = Path(__file__).parents[2] / "bff_web" / "persisted_queries.json"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "img"
#: Known to work as root in a container: no sandbox, no GPU, nothing phoning home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    # .ci/run installs it, so in CI its absence fails; a developer without it is told how.
    message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set BFF_CHROMIUM)"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)


# Assertions wait for the page up to this long: enough on a machine other runs share.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium per test module; each test gets fresh contexts (cookie jars)."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        downloads_path=tmp_path_factory.mktemp("downloads"),
    )
    yield chromium
    chromium.close()


NewProfile = Callable[[], BrowserContext]


@pytest.fixture
def new_profile(browser: Browser) -> Iterator[NewProfile]:
    """Makes browser profiles for the test: each its own cookie jar and HTTP cache, at a
    fixed size (screenshots); all closed after the test, which fails if any of its pages
    threw an exception that nothing caught."""
    made: list[BrowserContext] = []
    uncaught: list[str] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1100, "height": 760}, device_scale_factor=1)
        context.set_default_timeout(10_000)
        context.on("weberror", lambda error: uncaught.append(str(error.error)))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert uncaught == [], "a page threw an exception nothing caught"


class ClientOrigins(NamedTuple):
    listed: str
    unlisted: str


@pytest.fixture(scope="module")
def client_origins() -> Iterator[ClientOrigins]:
    """The reference client's files on two origins: one bff_web lists, one it does not."""
    files = Starlette(routes=[])
    files.mount("/", StaticFiles(directory=CLIENT_DIR, html=True))
    with ServerThread({"listed": files, "unlisted": files}, lifespan="off") as servers:
        yield ClientOrigins(servers.url("listed"), servers.url("unlisted"))


def web_instance_settings(
    standins: Standins, redis_url: str, prefix: str, origin: str, **overrides: Any
) -> WebSettings:
    """One bff_web on a fixed free port (its sign-in callback must name it), listing
    ``origin`` for CORS, with sessions and cache in the shared Redis."""
    port = free_port()
    cache = {
        "redis_url": redis_url,
        "prefix": prefix,
        "hmac_key": "browser-tests-hmac-key-shared-by-replicas",
        "encryption_keys": {"k1": base64.b64encode(b"b" * 32).decode()},
        "active_key_id": "k1",
    }
    return web_settings(
        standins,
        server={"host": "127.0.0.1", "port": port, "cors_origins": [origin]},
        cache=cache,
        graphql={"persisted_queries_file": str(PERSISTED), **overrides.pop("graphql", {})},
        sessions={
            "redirect_uri": f"http://127.0.0.1:{port}/auth/callback",
            # What these tests judge is the browser, not the store's budget (0.25 s) on a
            # machine that other test runs share.
            "store_timeout_seconds": 2.0,
            **overrides.pop("sessions", {}),
        },
        **overrides,
    )


@contextmanager
def serve_web_on_its_port(settings: WebSettings) -> Iterator[ServedUrl]:
    """``tests.support.serve_web`` on the configured public port instead of an ephemeral
    one: the identity provider sends the browser back to ``sessions.redirect_uri``."""
    app = create_app(settings, None, environ={})
    listeners = app.state.listeners
    sockets = listeners.bind()
    with ServerThread({"web": app}, lifespan="on", sockets={"web": sockets}):
        yield ServedUrl(listeners.public_url, listeners.admin_url)


class WebPair(NamedTuple):
    first: ServedUrl
    second: ServedUrl


@pytest.fixture(scope="module")
def web_pair(standins: Standins, client_origins: ClientOrigins) -> Iterator[WebPair]:
    """Two bff_web instances (replicas) sharing one redis-server of this module's own."""
    with ExitStack() as stack:
        redis_url, _ = stack.enter_context(own_redis_server())
        prefix = f"browser{uuid.uuid4().hex[:8]}"
        first, second = (
            stack.enter_context(
                serve_web_on_its_port(web_instance_settings(standins, redis_url, prefix, client_origins.listed))
            )
            for _ in range(2)
        )
        yield WebPair(first, second)


@pytest.fixture
def web(web_pair: WebPair, upstreams: Standins) -> Iterator[WebPair]:
    """Both instances, their breakers closed and caches emptied after the test, so faults
    one test switches on never leave the next one's upstream cut off or cached."""
    yield web_pair
    for instance in web_pair:
        reset_bff(upstreams.http, instance.admin)


def save_screenshot(png: bytes, name: str) -> None:
    """Write a screenshot into docs/img/, only when it changed (no churn in git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / name
    if not target.exists() or target.read_bytes() != png:
        target.write_bytes(png)
