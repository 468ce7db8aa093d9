"""Every GraphQL limit at N (accepted) and N+1 (refused with a clear, coded error)."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from graphql.language import Lexer, Source, TokenKind

from bff_web.graphql.persisted import sha256
from tests.support import Standins, serve_web, web_settings

GQL = {"Accept": "application/graphql-response+json"}
#: Each test tightens one limit; the others stay loose so they cannot interfere.
LOOSE = {"max_depth": 20, "max_aliases": 50, "max_tokens": 5000, "max_cost": 100_000, "max_batch": 10}
TIGHT = {
    "depth": {"max_depth": 3},
    "aliases": {"max_aliases": 2},
    "tokens": {"max_tokens": 30},
    "cost": {"max_cost": 10},
    "batch": {"max_batch": 2},
    "bytes": {"max_document_bytes": 120},
}


@pytest.fixture
def limited(standins: Standins, request: pytest.FixtureRequest) -> Iterator[str]:
    marker = request.node.get_closest_marker("limit")
    assert marker is not None, "mark the test with @pytest.mark.limit(name)"
    name = marker.args[0]
    with serve_web(web_settings(standins, graphql={**LOOSE, **TIGHT[name]})) as url:
        yield url


async def run(url: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.post("/graphql", json={"query": query}, headers=GQL)


def nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth - 1):
        inner = f"related(first: 1) {{ {inner} }}"
    return f"{{ product(id: 1) {{ {inner} }} }}"


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def repeated(field: str, times: int) -> str:
    return "{ product(id: 1) { " + " ".join([field] * times) + " } }"


def assert_accepted(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert "errors" not in answer.json(), answer.text


def assert_refused(answer: httpx.Response, words: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert "data" not in body
    assert words in body["errors"][0]["message"]


@pytest.mark.limit("depth")
async def test_depth_at_the_limit_is_accepted_and_one_deeper_refused(limited: str) -> None:
    assert_accepted(await run(limited, nested(3)))
    assert_refused(await run(limited, nested(4)), "exceeds maximum operation depth of 3")


@pytest.mark.limit("aliases")
async def test_aliases_at_the_limit_are_accepted_and_one_more_refused(limited: str) -> None:
    two = "{ a: product(id: 1) { id } b: product(id: 2) { id } }"
    three = "{ a: product(id: 1) { id } b: product(id: 2) { id } c: product(id: 3) { id } }"
    assert_accepted(await run(limited, two))
    assert_refused(await run(limited, three), "3 aliases found. Allowed: 2")


@pytest.mark.limit("tokens")
async def test_tokens_at_the_limit_are_accepted_and_one_more_refused(limited: str) -> None:
    base = token_count(repeated("id", 0))
    at_limit = repeated("id", 30 - base)
    assert token_count(at_limit) == 30
    over = at_limit.replace("{ id", "{ id id", 1)
    answer = await run(limited, at_limit)
    assert answer.status_code == 200, answer.text
    refused = await run(limited, over)
    assert refused.status_code == 400
    assert "token" in refused.json()["errors"][0]["message"].lower()


@pytest.mark.limit("cost")
async def test_cost_at_the_limit_is_accepted_and_one_more_refused(limited: str) -> None:
    assert_accepted(await run(limited, repeated("id", 9)))  # 1 + 9
    refused = await run(limited, repeated("id", 10))  # 1 + 10
    assert_refused(refused, "query cost 11 exceeds the limit of 10")
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.limit("cost")
async def test_cost_multiplies_by_first(limited: str) -> None:
    assert_refused(await run(limited, '{ search(query: "shoe", first: 5) { items { id } } }'), "query cost 11")


@pytest.mark.limit("bytes")
async def test_document_size_at_the_limit_is_accepted_and_one_byte_more_refused(limited: str) -> None:
    document = "{ product(id: 1) { id } }"
    at_limit = document + " " * (120 - len(document))
    assert_accepted(await run(limited, at_limit))
    refused = await run(limited, at_limit + " ")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_TOO_LARGE"


@pytest.mark.limit("batch")
async def test_batch_at_the_limit_is_accepted_and_one_more_refused(limited: str) -> None:
    operation = {"query": "{ product(id: 1) { id } }"}
    async with httpx.AsyncClient(base_url=limited, timeout=10) as client:
        accepted = await client.post("/graphql", json=[operation] * 2, headers=GQL)
        refused = await client.post("/graphql", json=[operation] * 3, headers=GQL)
    assert accepted.status_code == 200
    assert len(accepted.json()) == 2
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"


PRODUCTION = Path(__file__).parents[2] / "bff_web" / "config.production.yaml"
ALLOWLIST = Path(__file__).parents[2] / "bff_web" / "persisted_queries.json"


@pytest.fixture(scope="module")
def production(standins: Standins) -> Iterator[str]:
    graphql = {
        "introspection": False,
        "graphiql": False,
        "persisted_only": True,
        "persisted_queries_file": str(ALLOWLIST),
    }
    with serve_web(web_settings(standins, graphql=graphql)) as url:
        yield url


SEARCH = next(doc for doc in json.loads(ALLOWLIST.read_text()).values() if "query Search" in doc)


async def test_persisted_only_refuses_an_unknown_document(production: str) -> None:
    answer = await run(production, "{ product(id: 1) { id } }")
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


async def test_persisted_only_runs_an_allowlisted_document_by_hash(production: str) -> None:
    body = {
        "variables": {"query": "shoe", "first": 2},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(SEARCH)}},
    }
    async with httpx.AsyncClient(base_url=production, timeout=10) as client:
        answer = await client.post("/graphql", json=body, headers=GQL)
    assert answer.status_code == 200
    assert len(answer.json()["data"]["search"]["items"]) == 2


async def test_introspection_is_refused_in_production(production: str) -> None:
    async with httpx.AsyncClient(base_url=production, timeout=10) as client:
        # Allowlisting can't save it either: the validation rule refuses __schema.
        answer = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"}, headers=GQL)
    assert answer.status_code in (400, 403)


async def test_graphiql_is_off_in_production(production: str) -> None:
    async with httpx.AsyncClient(base_url=production, timeout=10) as client:
        answer = await client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in answer.text.lower()


async def test_automatic_persisted_queries_register_then_run_by_hash(web_url: str) -> None:
    document = "{ product(id: 5) { id name } }"
    by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}}
    async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:
        unknown = await client.post("/graphql", json=by_hash, headers=GQL)
        assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await client.post("/graphql", json={**by_hash, "query": document}, headers=GQL)
        assert registered.json()["data"]["product"]["id"] == "5"
        again = await client.post("/graphql", json=by_hash, headers=GQL)
    assert again.json()["data"]["product"]["id"] == "5"


async def test_a_hash_that_does_not_match_its_document_is_refused(web_url: str) -> None:
    body = {
        "query": "{ product(id: 5) { id } }",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
    }
    async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:
        answer = await client.post("/graphql", json=body, headers=GQL)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"


def test_an_allowlist_with_a_wrong_hash_refuses_to_start(standins: Standins, tmp_path: Path) -> None:
    from bff_web.app import create_app
    from shared import ConfigError

    bad = tmp_path / "allow.json"
    bad.write_text('{"' + "0" * 64 + '": "{ product(id: 1) { id } }"}')
    with pytest.raises(ConfigError, match="hash does not match"):
        create_app(web_settings(standins, graphql={"persisted_queries_file": str(bad)}))


def test_production_config_is_valid() -> None:
    from bff_web.settings import WebSettings
    from shared import load_settings

    settings = load_settings(WebSettings, PRODUCTION, {})
    assert (settings.graphql.introspection, settings.graphql.graphiql, settings.graphql.persisted_only) == (
        False,
        False,
        True,
    )
