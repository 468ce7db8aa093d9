"""The committed OpenAPI snapshot guards the /v1 contract: old app versions live for years."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bff_mobile.app import openapi
from bff_mobile.settings import MobileSettings
from shared.cli.openapi_diff import breaking_changes
from tests.openapi_conformance import anonymous_problems, body_problems, documented, operations, refused_problems
from tests.support import Standins, mobile_settings, serve_mobile
from upstreams.identity.keys import mint

SNAPSHOT = Path(__file__).parents[2] / "docs" / "api" / "bff_mobile.openapi.json"


def test_current_api_makes_no_breaking_change_to_the_snapshot() -> None:
    problems = breaking_changes(json.loads(SNAPSHOT.read_text()), openapi())
    assert problems == [], "breaking change(s) to /v1; add a new version instead:\n" + "\n".join(problems)


def test_snapshot_is_up_to_date() -> None:
    # Additive changes are fine but must be recorded: run `make openapi` and commit.
    assert json.loads(SNAPSHOT.read_text()) == openapi(), "run `make openapi` to refresh the snapshot"


# The class of "the document describes other credentials than the process enforces":
# each process is served in a mode, and what it answers is held against what it serves.

JWT = {"auth": {"mode": "jwt"}, "rate_limit": {"enabled": False}}
TRUSTED = {"auth": {"mode": "trusted_header"}, "rate_limit": {"enabled": False}}
#: One request per client, then 429 for a long while.
LIMITED = {"auth": {"mode": "jwt"}, "rate_limit": {"per_client": {"per_second": 0.001, "burst": 1}, "routes": {}}}


@contextmanager
def served(standins: Standins, **overrides: Any) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    with serve_mobile(mobile_settings(standins, **overrides)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client, client.get("/openapi.json").json()


def test_the_served_document_follows_the_auth_mode(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (_, jwt_document), served(upstreams, **TRUSTED) as (_, trusted_document):
        assert list(jwt_document["components"]["securitySchemes"]) == ["bearerAuth"]
        assert list(trusted_document["components"]["securitySchemes"]) == ["userId"]
        assert "X-User-Id" not in json.dumps(jwt_document)
        assert jwt_document == openapi(MobileSettings.model_validate(JWT))


def test_in_jwt_mode_every_operation_needing_a_caller_answers_401_without_a_token(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert anonymous_problems(client, document) == []


def test_in_jwt_mode_every_operation_answers_a_wrong_token_with_a_documented_401(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert refused_problems(client, document, {"Authorization": "Bearer not-a-jwt"}, 401) == []


def test_in_jwt_mode_a_repeated_authorization_is_a_documented_400(upstreams: Standins) -> None:
    token = f"Bearer {mint(7)}"
    with served(upstreams, **JWT) as (client, document):
        for method, path, operation in operations(document):
            answer = client.request(method, path, headers=[("Authorization", token), ("Authorization", token)])
            assert answer.status_code == 400, (method, path)
            assert documented(operation, answer) == []


def test_in_trusted_header_mode_operations_needing_a_caller_answer_401_without_x_user_id(upstreams: Standins) -> None:
    with served(upstreams, **TRUSTED) as (client, document):
        assert anonymous_problems(client, document) == []


def test_while_rate_limiting_every_operation_documents_its_429(upstreams: Standins) -> None:
    with served(upstreams, **LIMITED) as (client, document):
        client.get("/v1/products/42")  # the one request allowed
        assert refused_problems(client, document, {}, 429) == []
    with served(upstreams, **JWT) as (_, unlimited):
        assert all("429" not in op["responses"] for _, _, op in operations(unlimited))


def test_every_operation_with_a_body_documents_its_413_and_415(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert body_problems(client, document, MobileSettings().server.max_body_bytes) == []


def test_every_operation_documents_431_for_oversized_headers(upstreams: Standins) -> None:
    with served(upstreams, **JWT) as (client, document):
        assert refused_problems(client, document, {"X-Padding": "x" * 70_000}, 431) == []
