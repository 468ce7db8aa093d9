"""Property-based fuzzing of both processes' OpenAPI documents (schemathesis).

Every operation of the served ``/openapi.json`` gets a fixed number of generated requests,
valid and invalid, derandomized so CI sees the same cases on every run, against the real
process and the real stand-ins on loopback, in the production authentication mode: bearer
JWTs verified against the identity stand-in's JWKS, each request carrying a valid token
of one of a few real users. Each answer must not be a 5xx and must match the document: a
documented status, its content type, schema and required headers, an ``Allow`` header
listing the path's methods on 405, a 4xx for requests the document says are invalid, and
(schemathesis's ``ignored_auth``) a 401 for an operation that needs a token when the
request goes without one or with a wrong one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import Case

from bff_mobile.app import openapi as mobile_openapi
from bff_mobile.settings import MobileSettings
from bff_web.app import openapi as web_openapi
from bff_web.settings import WebSettings
from tests.support import Standins, mobile_settings, serve_mobile, serve_web, web_settings
from upstreams.identity.keys import mint

pytestmark = pytest.mark.slow

#: Generated requests per operation, on top of the deterministic boundary cases schemathesis
#: adds: enough to find a 5xx in a handler's parsing, few enough for this file to take
#: about 20 s on 2 cores.
EXAMPLES_PER_OPERATION = 50

#: Real users and ids: the callers of the requests (one valid token each, in turn) and
#: values mixed into the generated ones, so that the valid requests reach the screens'
#: happy paths (a random id is almost always unknown: a 404 before any fan-out).
USERS = [1, 7, 42, 1000]
PRODUCTS = [1, 42, 4999, 5000]
ORDERS = ["o-000007-001", "o-000007-013", "o-000042-020", "o-001000-001"]

#: What a valid request may be answered: never 401 or 403, since each carries a valid token.
_ACCEPTED_VALID_DATA = ["2xx", "3xx", "404", "409"]

FUZZING = schemathesis.Config.from_dict(
    {
        "seed": 7,
        # Hypothesis times its own generation; on the shared 2-core CI machine, where other
        # tests' servers run at the same time, that is no finding about the API.
        "suppress-health-check": ["too_slow"],
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none"},
        "dictionaries": {
            "products": {"values": PRODUCTS},
            "orders": {"values": ORDERS},
        },
        "parameters": {
            "path.product_id": {"dictionary": "products", "probability": 0.5},
            "body.items[*].product_id": {"dictionary": "products", "probability": 0.7},
            "path.order_id": {"dictionary": "orders", "probability": 0.5},
        },
        "checks": {
            # The default also accepts 5xx for valid data; not_a_server_error is what
            # speaks to those, and it is on.
            "positive_data_acceptance": {"expected-statuses": _ACCEPTED_VALID_DATA},
        },
        "operations": [
            {
                # A cursor is opaque: any string is valid by the document, but only one the
                # API issued decodes; any other is answered 400 naming `cursor`.
                "include-operation-id": "listOrders",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED_VALID_DATA, "400"]}},
            },
            {
                # A well-formed order can still be refused, with the documented 422: a product
                # id the catalog does not have, or an Idempotency-Key already used for another order.
                "include-operation-id": "createOrder",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED_VALID_DATA, "422"]}},
            },
        ],
    }
)

#: The fuzzed processes' settings besides their upstreams: the production auth mode (jwt,
#: against the identity stand-in's JWKS), but no rate limit (every request comes from one
#: address, and tests/shared/test_rate_limit.py covers limiting). The browser sign-in
#: routes are left out (sessions off): they redirect to the identity provider, another
#: server, and their cookie-bound flow is not something random requests reach;
#: tests/bff_web/test_sessions.py covers them, refusals included.
FUZZED = {"auth": {"mode": "jwt"}, "rate_limit": {"enabled": False}}
WEB_FUZZED = {**FUZZED, "sessions": {"enabled": False}}

mobile_document = mobile_openapi(MobileSettings.model_validate(FUZZED))
web_document = web_openapi(WebSettings.model_validate(WEB_FUZZED))
mobile_schema = schemathesis.openapi.from_dict(mobile_document, config=FUZZING)
web_schema = schemathesis.openapi.from_dict(web_document, config=FUZZING)


class TokensInTurn:
    """Each request's credentials: a valid token of each user in turn, signed by the identity
    stand-in's development key. Schemathesis leaves them out of the cases that remove
    Authorization on purpose, and its ``ignored_auth`` check resends requests without them
    and with wrong ones."""

    def __init__(self) -> None:
        self._tokens = itertools.cycle([mint(user, lifetime=3600) for user in USERS])

    def get(self, case: Case[Any], context: schemathesis.AuthContext) -> str:
        return next(self._tokens)

    def set(self, case: Case[Any], data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


for fuzzed_schema in (mobile_schema, web_schema):
    fuzzed_schema.auth(refresh_interval=None)(TokensInTurn)


@pytest.fixture(scope="module")
def fuzzed_standins() -> Iterator[Standins]:
    """Stand-ins of their own: the fuzzer places orders, which other tests must not see."""
    cluster = Standins()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def served(url: str, document: dict[str, Any], http: requests.Session) -> str:
    """``url``, once its /openapi.json is checked to be the document being fuzzed."""
    answer = http.get(f"{url}/openapi.json", timeout=5)
    answer.raise_for_status()
    assert answer.json() == document, "the process serves another OpenAPI document than the one fuzzed"
    return url


@pytest.fixture(scope="module")
def fuzzed_mobile_url(fuzzed_standins: Standins, http: requests.Session) -> Iterator[str]:
    with serve_mobile(mobile_settings(fuzzed_standins, **FUZZED)) as url:
        yield served(url, mobile_document, http)


@pytest.fixture(scope="module")
def fuzzed_web_url(fuzzed_standins: Standins, http: requests.Session) -> Iterator[str]:
    with serve_web(web_settings(fuzzed_standins, **WEB_FUZZED)) as url:
        yield served(url, web_document, http)


_serial = itertools.count(1)
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")  # as documented for createOrder


def fresh_idempotency_key(case: Case[Any]) -> None:
    """A valid Idempotency-Key made unique, as a client makes one for each new order: the
    generator draws keys from a small space, and a key reused with another body is answered
    422, so most orders would never reach the 201 and its schema. An invalid key is left as
    generated (still invalid, so the case stays a negative one)."""
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
        case.headers["Idempotency-Key"] = f"{next(_serial)}-{key}"[:128]


@mobile_schema.parametrize()
def test_bff_mobile_answers_every_generated_request_as_documented(
    case: Case[Any], fuzzed_mobile_url: str, http: requests.Session
) -> None:
    fresh_idempotency_key(case)
    case.call_and_validate(base_url=fuzzed_mobile_url, session=http, timeout=10)


@web_schema.parametrize()
def test_bff_web_answers_every_generated_request_as_documented(
    case: Case[Any], fuzzed_web_url: str, http: requests.Session
) -> None:
    case.call_and_validate(base_url=fuzzed_web_url, session=http, timeout=10)
