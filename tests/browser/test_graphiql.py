"""GraphiQL in headless Chromium: served and working with bff_web's development config,
absent with the production config (bff_web/config.production.yaml's graphql section)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
import yaml
from playwright.sync_api import Response, expect

from tests.browser.client import open_client, sign_in
from tests.browser.conftest import PERSISTED, ClientOrigins, NewProfile, WebPair, save_screenshot
from tests.browser.graphiql_assets import pinned_assets, serve_from, unpack_packages
from tests.support import ServedUrl, Standins, serve_web, web_settings

PRODUCTION = Path(__file__).parents[2] / "bff_web" / "config.production.yaml"
VIEWER_QUERY = "{\n  viewer {\n    profile { name }\n  }\n}\n"
QUERY = '{\n  product(id: "42") {\n    name\n    price { amount currency }\n    stock { available }\n  }\n}\n'


@pytest.fixture(scope="module")
def development(standins: Standins) -> Iterator[ServedUrl]:
    with serve_web(web_settings(standins, graphql={"persisted_queries_file": str(PERSISTED)})) as url:
        yield url


@pytest.fixture(scope="module")
def production(standins: Standins) -> Iterator[ServedUrl]:
    graphql = yaml.safe_load(PRODUCTION.read_text())["graphql"] | {"persisted_queries_file": str(PERSISTED)}
    with serve_web(web_settings(standins, graphql=graphql)) as url:
        yield url


@pytest.fixture(scope="module")
def graphiql_cache(development: ServedUrl, request: pytest.FixtureRequest) -> Path:
    """The pinned packages the development GraphiQL page names, unpacked once."""
    page = httpx.get(f"{development}/graphql", headers={"Accept": "text/html"}, timeout=10).raise_for_status()
    assets = pinned_assets(page.text)
    assert {package for package, _, _ in assets} >= {"react", "react-dom", "graphiql"}
    cache = Path(request.config.cache.mkdir("graphiql-assets"))
    unpack_packages(assets, cache)
    return cache


def test_graphiql_loads_and_runs_a_query_with_the_development_config(
    new_profile: NewProfile, development: ServedUrl, graphiql_cache: Path
) -> None:
    context = new_profile()
    serve_from(context, graphiql_cache)
    page = context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.goto(f"{development}/graphql?{urlencode({'q': QUERY}, quote_via=quote)}")  # the page decodes no "+"
    run = page.locator(".graphiql-execute-button")
    expect(run).to_be_visible()
    expect(page.locator(".graphiql-query-editor")).to_contain_text("product")
    with page.expect_response(
        lambda r: r.request.method == "POST" and "product(id" in (r.request.post_data or "")
    ) as answered:
        run.click()
    assert answered.value.status == 200
    expect(page.locator(".graphiql-response")).to_contain_text('"name": "Aero Saddle"')
    assert failures == []
    save_screenshot(page.screenshot(), "graphiql.png")


def test_the_production_config_serves_no_graphiql(new_profile: NewProfile, production: ServedUrl) -> None:
    page = new_profile().new_page()
    answer = page.goto(f"{production}/graphql")
    assert answer is not None
    assert answer.status == 400 and answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {
        "errors": [{"message": "the request has no 'query'", "extensions": {"code": "BAD_REQUEST"}}]
    }
    assert page.locator(".graphiql-container, #graphiql, script").count() == 0


def test_graphiql_runs_a_signed_in_developers_queries_with_the_sessions_csrf_token(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair, graphiql_cache: Path
) -> None:
    context = new_profile()
    serve_from(context, graphiql_cache)
    page = open_client(context, client_origins.listed, web.first)
    sign_in(page, 409)  # the session cookie now goes to every port of this host, GraphiQL's too
    posts: list[Response] = []
    page.on("response", lambda r: posts.append(r) if r.request.method == "POST" else None)
    page.goto(f"{web.first}/graphql?{urlencode({'q': VIEWER_QUERY}, quote_via=quote)}")
    page.locator(".graphiql-execute-button").click()
    expect(page.locator(".graphiql-response")).to_contain_text('"name":')
    assert posts and all(post.status == 200 for post in posts)  # introspection and the query
    assert all(post.request.headers.get("x-csrf-token") for post in posts)
