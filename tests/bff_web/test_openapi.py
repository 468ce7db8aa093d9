"""bff_web's served OpenAPI document says what the running process enforces: bearer
tokens, and with sessions on the session cookie and its CSRF token (tests/openapi_conformance.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bff_web.app import openapi
from bff_web.settings import WebSettings
from tests.openapi_conformance import anonymous_problems, documented, operations, refused_problems
from tests.support import Standins, serve_web, web_settings

JWT = {"auth": {"mode": "jwt"}, "rate_limit": {"enabled": False}}


@contextmanager
def served(standins: Standins, **overrides: Any) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    with serve_web(web_settings(standins, **overrides)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client, client.get("/openapi.json").json()


def test_the_served_document_has_the_session_schemes_only_with_sessions_on(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (_, on), served(upstreams, **JWT, sessions={"enabled": False}) as (_, off):
        assert set(on["components"]["securitySchemes"]) == {"bearerAuth", "sessionCookie", "csrfToken"}
        assert set(off["components"]["securitySchemes"]) == {"bearerAuth"}
        assert off == openapi(WebSettings.model_validate({**JWT, "sessions": {"enabled": False}}))


def test_every_operation_needing_a_caller_answers_401_without_credentials(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert anonymous_problems(client, document) == []


def test_every_operation_answers_a_wrong_token_with_a_documented_401(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert refused_problems(client, document, {"Authorization": "Bearer not-a-jwt"}, 401) == []


def test_an_ended_session_cookie_is_a_documented_401_wherever_the_cookie_is_read(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        for method, path, operation in operations(document):
            answer = client.request(method, path, headers={"Cookie": "__Host-bff_session=ended"})
            reads_cookie = any("sessionCookie" in requirement for requirement in operation["security"])
            assert (answer.status_code == 401) == reads_cookie, (method, path, answer.status_code)
            assert documented(operation, answer) == []
