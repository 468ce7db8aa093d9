"""Driving the reference client as its user does: open it, sign in, wait for its screens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import BrowserContext, Page, Response, expect

COOKIE = "__Host-bff_session"


def client_url(origin: str, api: str) -> str:
    return f"{origin}/?{urlencode({'api': api})}"


def open_client(context: BrowserContext, origin: str, api: str) -> Page:
    """A new tab on the reference client at ``origin`` talking to the bff_web at ``api``,
    once its first load has finished."""
    page = context.new_page()
    page.goto(client_url(origin, api))
    wait_for_actions(page, 1)
    return page


def wait_for_actions(page: Page, count: int) -> None:
    """Until the page has finished ``count`` user actions (its first load is one); read
    from the DOM, as the page's Content-Security-Policy refuses evaluated strings."""
    expect(page.locator("body")).to_have_attribute("data-actions-done", str(count))


def sign_in(page: Page, user: int) -> None:
    """The sign-in button: bff_web, the identity provider, the callback, and back here."""
    expect(page.locator("#session")).to_have_attribute("data-state", "signed-out")
    page.fill("#login-hint", str(user))
    with page.expect_navigation(url=lambda url: url.startswith(page.url.split("?")[0])):
        page.click("#sign-in-button")
    wait_for_actions(page, 1)
    expect(page.locator("#session")).to_have_text(f"Signed in as user {user}")


def reload(page: Page) -> None:
    page.reload()
    wait_for_actions(page, 1)


class WireLog:
    """What went over the wire for a page, by path: the status the server really sent
    (a revalidated answer reaches the page, and Playwright's ``Response``, as the cached
    200; Chromium's DevTools protocol still tells the 304), and the page's responses."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.responses: list[Response] = []
        self.statuses: dict[str, list[int]] = {}
        self._paths: dict[str, str] = {}
        page.on("response", lambda response: self.responses.append(response))
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceivedExtraInfo", self._received)
        cdp.send("Network.enable")

    def _sent(self, event: dict[str, Any]) -> None:
        self._paths[event["requestId"]] = urlsplit(event["request"]["url"]).path

    def _received(self, event: dict[str, Any]) -> None:
        path = self._paths.get(event["requestId"])
        if path is not None:
            self.statuses.setdefault(path, []).append(event["statusCode"])

    def last(self, path: str) -> Response:
        return [response for response in self.responses if urlsplit(response.url).path == path][-1]

    def clear(self) -> None:
        self.responses.clear()
        self.statuses.clear()
