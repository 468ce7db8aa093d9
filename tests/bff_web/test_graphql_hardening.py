"""Hostile GraphQL documents: validation work grows with the document, never with what its
fragments expand to; out-of-range scalars and ambiguous operations are request errors.

Work is counted (Python calls made while validating, selections visited), never timed."""

import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from graphql import get_introspection_query, parse, specified_rules
from graphql.language import Lexer, Source, TokenKind

from bff_web.graphql.limits import DocumentMeasurer, DocumentValidator, Measure
from bff_web.graphql.schema import build_schema
from bff_web.settings import GraphQLSettings
from tests.support import ServedUrl

GQL = {"Accept": "application/graphql-response+json"}
SETTINGS = GraphQLSettings()
SCHEMA = build_schema(SETTINGS)._schema
PERSISTED = json.loads((Path(__file__).parents[2] / "bff_web" / "persisted_queries.json").read_text())

# Families of documents an attacker grows one step at a time.


def doubling(n: int) -> str:
    """Each fragment spreads the one before twice: 2^n fields from n lines."""
    body = " ".join(f"fragment F{i} on Product {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n + 1))
    return f"{{ product(id: 1) {{ ...F{n} }} }} fragment F0 on Product {{ id name }} {body}"


def doubling_through_fields(n: int) -> str:
    body = " ".join(
        f"fragment F{i} on Product {{ related(first: 1) {{ ...F{i - 1} }} related(first: 1) {{ ...F{i - 1} }} }}"
        for i in range(1, n + 1)
    )
    return f"{{ product(id: 1) {{ ...F{n} }} }} fragment F0 on Product {{ id }} {body}"


def chain(n: int) -> str:
    """A long chain of fragments, each spreading the next (deep recursion if walked naively)."""
    body = " ".join(f"fragment F{i} on Product {{ ...F{i - 1} }}" for i in range(1, n + 1))
    return f"{{ product(id: 1) {{ ...F{n} }} }} fragment F0 on Product {{ id }} {body}"


def nested_twins(n: int) -> str:
    inner = "id"
    for _ in range(n):
        inner = f"related {{ {inner} }} related {{ {inner} }}"
    return f"{{ product(id: 1) {{ {inner} }} }}"


def repeated_field(n: int) -> str:
    return "{ product(id: 1) { " + " ".join(["id"] * n) + " } }"


def repeated_root(n: int) -> str:
    return "{ " + " ".join(["product(id: 1) { id name }"] * n) + " }"


def repeated_with_arguments(n: int) -> str:
    return "{ product(id: 1) { " + " ".join(f"related(first: {i}) {{ id }}" for i in range(n)) + " } }"


FAMILIES: list[Callable[[int], str]] = [
    doubling,
    doubling_through_fields,
    chain,
    nested_twins,
    repeated_field,
    repeated_root,
    repeated_with_arguments,
]


def tokens(document: str) -> int:
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def validation_calls(document: str) -> int:
    """Python function calls made validating ``document`` (limits and every specified rule)."""
    validator, parsed, calls = DocumentValidator(SETTINGS), parse(document), 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        validator.validate(SCHEMA, document, parsed, tuple(specified_rules))
    finally:
        sys.setprofile(None)
    return calls


def sizes(family: Callable[[int], str]) -> list[str]:
    """The family's documents from the smallest up to the token limit."""
    documents = []
    for n in range(1, 400):
        document = family(n)
        if tokens(document) > SETTINGS.max_tokens:
            break
        documents.append(document)
    return documents


#: Calls per token of the largest legitimate documents (persisted queries, GraphiQL's
#: introspection) are about 70; the bound leaves room, and an exponential or quadratic
#: step breaks it by orders of magnitude.
CALLS_PER_TOKEN = 250


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.__name__)
def test_validation_work_is_linear_in_the_document(family: Callable[[int], str]) -> None:
    for document in sizes(family)[::3]:
        assert validation_calls(document) <= CALLS_PER_TOKEN * tokens(document) + 2000, document[:80]


def test_legitimate_documents_stay_within_the_same_bound() -> None:
    for document in [*PERSISTED.values(), get_introspection_query()]:
        assert validation_calls(document) <= CALLS_PER_TOKEN * tokens(document) + 2000
        assert DocumentValidator(SETTINGS).limit_errors(parse(document)) == []


def test_fragments_are_measured_once_however_often_they_are_spread() -> None:
    visits = [DocumentMeasurer(parse(doubling(n))).visits for n in (10, 20, 30)]
    assert visits[1] - visits[0] == visits[2] - visits[1] == 20  # two spreads per added fragment


def test_a_chain_longer_than_the_recursion_limit_is_measured() -> None:
    document = parse(chain(sys.getrecursionlimit() + 100))
    measurer = DocumentMeasurer(document)
    assert measurer.operation(document.definitions[0]) == Measure(depth=1, aliases=0, cost=2)  # type: ignore[arg-type]


def test_a_fragment_cycle_is_left_to_the_specified_rule() -> None:
    document = "{ product(id: 1) { ...A } } fragment A on Product { related { ...B } } fragment B on Product { ...A }"
    errors = DocumentValidator(SETTINGS).validate(SCHEMA, document, parse(document), tuple(specified_rules))
    assert any("Cannot spread fragment" in error.message for error in errors)


async def post(url: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.post("/graphql", json=body, headers=GQL)


async def get(url: str, params: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get("/graphql", params=params, headers=GQL)


async def test_a_fragment_bomb_is_refused_without_a_token(web_url: ServedUrl) -> None:
    answer = await post(web_url, {"query": doubling(30)})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_repeated_fields_past_the_overlap_budget_are_refused(web_url: ServedUrl) -> None:
    answer = await post(web_url, {"query": repeated_field(400)})
    assert answer.status_code == 400
    assert "repeats fields too often" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("literal", ["99999999999999999999", "2147483648", "-2147483649", "9" * 5000])
async def test_an_int_beyond_its_range_is_a_400_naming_the_argument(web_url: ServedUrl, literal: str) -> None:
    query = f'{{ search(query: "shoe", first: {literal}) {{ total }} }}'
    for answer in (await post(web_url, {"query": query}), await get(web_url, {"query": query})):
        assert answer.status_code == 400, answer.text
        error = answer.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
        assert "argument 'first'" in error["message"]
        assert answer.headers["x-request-id"] and answer.headers["x-content-type-options"] == "nosniff"


async def test_an_int_variable_beyond_its_range_is_a_400_naming_the_variable(web_url: ServedUrl) -> None:
    query = 'query($n: Int!) { search(query: "shoe", first: $n) { total } }'
    answer = await post(web_url, {"query": query, "variables": {"n": 99999999999999999999}})
    assert answer.status_code == 400
    assert "$n" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("product_id", ["99999999999999999999", "1" * 400, "12abc", "-1", "0"])
async def test_a_product_id_out_of_range_is_a_field_error_naming_it(web_url: ServedUrl, product_id: str) -> None:
    answer = await post(web_url, {"query": f'{{ product(id: "{product_id}") {{ id }} }}'})
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "id"


async def test_several_operations_without_an_operation_name_are_a_request_error(web_url: ServedUrl) -> None:
    query = 'query A { search(query: "a", first: 1) { total } } query B { search(query: "b", first: 1) { total } }'
    for answer in (await post(web_url, {"query": query}), await get(web_url, {"query": query})):
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    chosen = await post(web_url, {"query": query, "operationName": "B"})
    assert chosen.status_code == 200 and "total" in chosen.json()["data"]["search"]


async def test_a_subscription_by_post_is_told_subscriptions_are_not_served(web_url: ServedUrl) -> None:
    answer = await post(web_url, {"query": "subscription { ticks }"})
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "OPERATION_NOT_SUPPORTED" and "GET" not in error["message"].split(";")[0]


async def test_an_empty_document_is_a_400_by_get_and_post(web_url: ServedUrl) -> None:
    for answer in (await post(web_url, {"query": ""}), await get(web_url, {"query": ""})):
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ],
)
async def test_a_post_body_that_is_not_plain_json_is_415(web_url: ServedUrl, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:
        answer = await client.post("/graphql", content=b'{"query": "{ __typename }"}', headers={**GQL, **headers})
    assert answer.status_code == 415
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_two_content_types_on_a_post_are_415(web_url: ServedUrl) -> None:
    headers = [
        (b"Accept", GQL["Accept"].encode()),
        (b"Content-Type", b"application/json"),
        (b"Content-Type", b"text/plain"),
    ]
    async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:
        answer = await client.post("/graphql", content=b'{"query": "{ __typename }"}', headers=headers)
    assert answer.status_code == 415


SCHEMA_ONCE = "{ __schema { queryType { name } } }"


@pytest.mark.parametrize(
    "document",
    [
        "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }",
        "{ __schema { a: types { name } b: types { name } } }",
        "{ ...S ...T } fragment S on Query { a: __schema { types { name } } } "
        "fragment T on Query { b: __schema { types { name } } }",
        "{ __schema { ...F } } fragment F on __Schema { a: types { name } b: types { name } }",
    ],
)
async def test_introspection_answers_the_schema_once_per_document(web_url: ServedUrl, document: str) -> None:
    answer = await post(web_url, {"query": document})
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and "introspection" in error["message"]


async def test_graphiqls_introspection_query_is_answered(web_url: ServedUrl) -> None:
    answer = await post(web_url, {"query": get_introspection_query(descriptions=True)})
    assert answer.status_code == 200 and answer.json()["data"]["__schema"]["types"]


async def test_a_batch_asks_for_the_schema_once(web_url: ServedUrl) -> None:
    answers = (await post(web_url, [{"query": SCHEMA_ONCE}, {"query": SCHEMA_ONCE + " "}])).json()
    assert "data" in answers[0]
    assert answers[1]["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_the_documents_of_a_batch_share_the_token_limit(web_url: ServedUrl) -> None:
    """Each document is under max_tokens alone; together they must be too, or a batch
    would multiply the CPU a request may cost before its first byte."""
    document = sizes(nested_twins)[-1]  # the largest under the token limit
    batch = [{"query": document + " " * i} for i in range(SETTINGS.max_batch)]  # distinct: no cache hit
    answers = (await post(web_url, batch)).json()
    codes = [answer["errors"][0]["extensions"]["code"] if "errors" in answer else "ok" for answer in answers]
    assert codes[0] == "QUERY_TOO_COMPLEX"  # its own refusal (repeated fields), then no more work
    assert set(codes[1:]) == {"BATCH_TOO_LARGE"}


async def test_a_batch_of_ordinary_documents_is_answered(web_url: ServedUrl) -> None:
    batch = [{"query": f'{{ search(query: "shoe{i}", first: 2) {{ total }} }}'} for i in range(SETTINGS.max_batch)]
    answers = (await post(web_url, batch)).json()
    assert all("errors" not in answer for answer in answers), answers


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ __typename }", "operationName": {"a": 1}},
        {"query": "{ __typename }", "operationName": 7},
        {"query": "{ __typename }", "extensions": [1]},
        {"query": "{ __typename }", "extensions": "persisted"},
    ],
)
async def test_a_mistyped_operation_name_or_extensions_is_a_400(web_url: ServedUrl, body: dict[str, object]) -> None:
    answer = await post(web_url, body)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
