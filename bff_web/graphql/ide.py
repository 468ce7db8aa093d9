"""GraphiQL, as bff_web serves it in development: Strawberry's page, with a fetcher that
sends the browser session's CSRF token.

A developer signed in through the browser (the reference client, ``/auth/login``) holds the
session cookie on this host, and a cookie-authenticated POST needs ``X-CSRF-Token``; the
stock page only knows Django's ``csrftoken`` cookie, so every query, introspection
included, would be a 403. Here the fetcher asks ``GET /auth/session`` once for the token
(none when signed out or without sessions) and sends it on every request.
"""

from __future__ import annotations

from functools import cache

from strawberry.http.ides import get_graphql_ide_html

_STOCK_FETCHER = """      const fetcher = GraphiQL.createFetcher({
        url: fetchURL,
        headers: defaultHeaders,
        subscriptionUrl,
      });"""

_SESSION_FETCHER = """      let sessionCsrfToken = null;
      async function fetchWithSessionCsrfToken(input, init = {}) {
        if (sessionCsrfToken === null) {
          const session = await fetch("/auth/session", { credentials: "same-origin" });
          sessionCsrfToken = session.ok ? (await session.json()).csrf_token : "";
        }
        const headers = new Headers(init.headers);
        if (sessionCsrfToken) headers.set("X-CSRF-Token", sessionCsrfToken);
        return fetch(input, { ...init, headers });
      }

      const fetcher = GraphiQL.createFetcher({
        url: fetchURL,
        headers: defaultHeaders,
        subscriptionUrl,
        fetch: fetchWithSessionCsrfToken,
      });"""


@cache
def graphiql_html() -> str:
    """The GraphiQL page; ``RuntimeError`` if Strawberry's page no longer has the fetcher
    this replaces (then update ``_STOCK_FETCHER`` to the new page)."""
    page = get_graphql_ide_html(graphql_ide="graphiql")
    if page.count(_STOCK_FETCHER) != 1:
        raise RuntimeError("Strawberry's GraphiQL page changed: bff_web/graphql/ide.py cannot add the CSRF token")
    return page.replace(_STOCK_FETCHER, _SESSION_FETCHER)


__all__ = ["graphiql_html"]
