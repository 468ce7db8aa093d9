"""The reference web client (bff_web/reference_client/) in headless Chromium, on an
origin of its own, against two real bff_web instances sharing Redis.

What only a browser decides is what these tests check: that the ``__Host-`` cookie is
stored and sent, that CORS lets the listed origin read answers and no other, that the
HTTP cache revalidates with ETags, and what a user sees when an upstream is down."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, Request, Route, expect

from tests.browser.client import COOKIE, WireLog, open_client, reload, sign_in, wait_for_actions
from tests.browser.conftest import ClientOrigins, NewProfile, WebPair, save_screenshot
from tests.support import Standins

#: Users no other test places orders for, so the dashboard (and its screenshot) is the seeded one.
SCREENSHOT_USER = 401
DASHBOARD_HASH = "eafceeddd81d0d60003777f5f464fe98121abe6c21bb64bd5ef332cc4b9e1e80"
SCREENS = ("/graphql", "/v1/products/42")
FETCH_SESSION = """async (api) => {
    try {
        const answer = await fetch(api + "/auth/session", {credentials: "include"});
        return {status: answer.status, body: await answer.json()};
    } catch (error) {
        return {error: String(error)};
    }
}"""


def signed_in(new_profile: NewProfile, origin: str, api: str, user: int) -> Page:
    """A tab of a new browser profile on the client at ``origin``, signed in as ``user``."""
    page = open_client(new_profile(), origin, api)
    sign_in(page, user)
    return page


def test_sign_in_stores_a_host_only_httponly_secure_lax_cookie_script_cannot_read(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    page = signed_in(new_profile, client_origins.listed, web.first, 402)
    context = page.context
    [cookie] = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert cookie["path"] == "/"
    assert cookie["httpOnly"] and cookie["secure"]
    assert cookie["sameSite"] == "Lax"
    assert cookie["expires"] > 0  # a Max-Age, not a cookie of the browser's lifetime
    assert COOKIE not in page.evaluate("() => document.cookie")
    expect(page.locator("#profile")).to_have_attribute("data-state", "ok")


def test_the_dashboard_renders_from_the_persisted_query_and_a_reload_is_revalidated_with_304s(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    context = new_profile()
    page = open_client(context, client_origins.listed, web.first)
    wire = WireLog(context, page)
    sign_in(page, SCREENSHOT_USER)
    for section in ("profile", "orders", "recommendations", "product"):
        expect(page.locator(f"#{section}")).to_have_attribute("data-state", "ok")
    expect(page.locator("#orders li").first).to_be_visible()
    save_screenshot(page.screenshot(full_page=True), "reference-client.png")
    dashboard = parse_qs(urlsplit(wire.last("/graphql").url).query)
    assert "query" not in dashboard  # the document never travels, only its hash
    assert json.loads(dashboard["extensions"][0])["persistedQuery"]["sha256Hash"] == DASHBOARD_HASH
    etags = {path: wire.last(path).headers["etag"] for path in SCREENS}
    assert wire.statuses["/graphql"] == [200] and wire.statuses["/v1/products/42"] == [200]

    wire.clear()
    reload(page)
    expect(page.locator("#recommendations")).to_have_attribute("data-state", "ok")
    for path in SCREENS:
        assert wire.last(path).request.all_headers()["if-none-match"] == etags[path]
        assert wire.statuses[path] == [304], path  # the browser's cache answered the page
    assert wire.statuses["/auth/session"] == [200]  # no-store: never from the cache


def test_an_order_placed_from_the_page_carries_the_csrf_token_and_an_idempotency_key(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    page = signed_in(new_profile, client_origins.listed, web.first, 403)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/orders")) as placing:
        page.click("#place-order")
    expect(page.locator("#order-result")).to_have_attribute("data-state", "ok")
    headers = placing.value.all_headers()
    session = page.evaluate(FETCH_SESSION, web.first)
    assert headers["x-csrf-token"] == session["body"]["csrf_token"]
    assert len(headers["idempotency-key"]) == 36  # a fresh crypto.randomUUID() per order
    placed = placing.value.response()
    assert placed is not None and placed.status == 201
    order_id = placed.json()["id"]
    expect(page.locator("#order-result")).to_contain_text(f"Order {order_id} placed")
    expect(page.locator(f'#orders li[data-order="{order_id}"]')).to_be_visible()  # the dashboard reloaded


def test_an_order_sent_without_the_csrf_token_is_refused_and_the_page_says_why(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair, upstreams: Standins
) -> None:
    page = signed_in(new_profile, client_origins.listed, web.first, 404)

    def without_the_token(route: Route, request: Request) -> None:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "x-csrf-token"}
        route.continue_(headers=headers)

    page.route("**/v1/orders", without_the_token)
    writes_before = upstreams.requests("orders")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/v1/orders")) as refused:
        page.click("#place-order")
    assert refused.value.status == 403
    assert refused.value.json()["field"] == "X-CSRF-Token"
    expect(page.locator("#order-result")).to_have_attribute("data-state", "error")
    expect(page.locator("#problem .title")).to_have_text("Forbidden")
    expect(page.locator("#problem .detail")).to_contain_text("X-CSRF-Token")
    assert upstreams.requests("orders") == writes_before  # refused before any upstream call


def test_a_page_on_an_unlisted_origin_cannot_read_answers_and_the_listed_origin_can(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    listed = signed_in(new_profile, client_origins.listed, web.first, 405)
    elsewhere = open_client(listed.context, client_origins.unlisted, web.first)  # same browser, same cookie
    expect(elsewhere.locator("#problem .title")).to_have_text("Cannot reach the API")
    expect(elsewhere.locator("#screens")).to_be_hidden()
    refused = elsewhere.evaluate(FETCH_SESSION, web.first)
    assert refused == {"error": "TypeError: Failed to fetch"}  # no status, no body: CORS said no
    allowed = listed.evaluate(FETCH_SESSION, web.first)
    assert allowed["status"] == 200 and allowed["body"]["user_id"] == 405


def test_with_recommendations_down_in_both_regions_the_page_renders_and_marks_that_section(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair, upstreams: Standins
) -> None:
    upstreams.fault("recommendations", "*", down=True)
    page = signed_in(new_profile, client_origins.listed, web.first, SCREENSHOT_USER)
    expect(page.locator("#recommendations")).to_have_attribute("data-state", "degraded")
    expect(page.locator("#recommendations .notice")).to_contain_text("recommendations service could not answer")
    for section in ("profile", "orders", "product"):
        expect(page.locator(f"#{section}")).to_have_attribute("data-state", "ok")
    expect(page.locator("#problem")).to_be_hidden()
    save_screenshot(page.screenshot(full_page=True), "reference-client-degraded.png")


def test_with_a_required_upstream_down_the_page_shows_the_problems_title_not_a_stack(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair, upstreams: Standins
) -> None:
    page = signed_in(new_profile, client_origins.listed, web.first, 406)
    upstreams.fault("catalog", "*", down=True)  # the product page cannot be without its product
    page.fill("#product-id", "77")  # one no cache holds yet
    page.click("#product-form button")
    wait_for_actions(page, 2)
    expect(page.locator("#product")).to_have_attribute("data-state", "error")
    expect(page.locator("#problem .title")).to_have_text("Upstream unavailable")
    expect(page.locator("#place-order")).to_be_disabled()
    text = page.locator("body").inner_text()
    assert "Traceback" not in text and "Error:" not in text and ".py" not in text
    expect(page.locator("#profile")).to_have_attribute("data-state", "ok")  # the rest still shows


def test_sign_out_ends_the_session_and_clears_the_cookie(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    page = signed_in(new_profile, client_origins.listed, web.first, 408)
    with page.expect_response(lambda r: r.url.endswith("/auth/logout")) as ended:
        page.click("#logout")
    assert ended.value.status == 204
    expect(page.locator("#session")).to_have_text("Signed out")
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
    reload(page)
    expect(page.locator("#sign-in")).to_be_visible()


def test_logout_all_in_one_tab_ends_the_session_in_a_tab_on_the_other_instance(
    new_profile: NewProfile, client_origins: ClientOrigins, web: WebPair
) -> None:
    on_first = signed_in(new_profile, client_origins.listed, web.first, 407)
    on_second = signed_in(new_profile, client_origins.listed, web.second, 407)  # its own session
    same_browser = open_client(on_first.context, client_origins.listed, web.second)  # the laptop's cookie, replica two
    expect(same_browser.locator("#session")).to_have_text("Signed in as user 407")

    on_first.click("#logout-all")
    expect(on_first.locator("#session")).to_have_text("Signed out on 2 devices")
    assert not [c for c in on_first.context.cookies() if c["name"] == COOKIE]  # the answer cleared it
    assert [c for c in on_second.context.cookies() if c["name"] == COOKIE]  # the other device still sends its own …

    on_second.click("#refresh")
    wait_for_actions(on_second, 2)
    expect(on_second.locator("#session")).to_have_attribute("data-state", "signed-out")  # … which replica two refuses
    expect(on_second.locator("#screens")).to_be_hidden()
