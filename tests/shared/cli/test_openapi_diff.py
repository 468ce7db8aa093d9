"""The breaking-change check that guards the committed OpenAPI snapshots, against a
catalogue of edits: each breaking one must be flagged, each additive one must pass."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from shared import Endpoint, Param, build_openapi
from shared.cli.openapi_diff import breaking_changes


class Price(BaseModel):
    amount: int
    currency: str


class Item(BaseModel):
    id: int
    name: str
    in_stock: bool | None
    status: str = Field(json_schema_extra={"enum": ["active", "retired"]})
    price: Price | int
    tags: list[str]
    note: str | None = None


class NewItem(BaseModel):
    name: str
    colour: str = Field(default="red", json_schema_extra={"enum": ["red", "blue"]})


async def handler(request: Request) -> Response:
    return Response()


def document() -> dict[str, Any]:
    limit = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 50}, "Page size")
    item_id = Param("item_id", "path", {"type": "integer"}, "id")
    endpoints = [
        Endpoint("GET", "/v1/items/{item_id}", handler, "An item", Item, "getItem", params=[item_id], errors=[404]),
        Endpoint("GET", "/v1/items", handler, "Items", Item, "listItems", params=[limit], access="anyone"),
        Endpoint("POST", "/v1/items", handler, "Create", Item, "createItem", status=201, body=NewItem),
    ]
    return build_openapi("t", "1", "d", endpoints)


Edit = Callable[[dict[str, Any]], None]


def item(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["Item"]
    return schema


def new_item(doc: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"]["NewItem"]
    return schema


def list_items(doc: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"]["/v1/items"]["get"]
    return operation


def create_item(doc: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"]["/v1/items"]["post"]
    return operation


def _add_required_body_field(doc: dict[str, Any]) -> None:
    new_item(doc)["properties"]["owner"] = {"type": "string"}
    new_item(doc)["required"].append("owner")


def _add_optional_field(doc: dict[str, Any]) -> None:
    item(doc)["properties"]["extra"] = {"type": "string"}
    new_item(doc)["properties"]["extra"] = {"type": "string"}


def _add_optional_parameter(doc: dict[str, Any]) -> None:
    list_items(doc)["parameters"].append({"name": "q", "in": "query", "required": False, "schema": {"type": "string"}})


def _add_required_parameter(doc: dict[str, Any]) -> None:
    list_items(doc)["parameters"].append({"name": "X-Tenant", "in": "header", "required": True, "schema": {}})


BREAKING: dict[str, tuple[Edit, str]] = {
    "removed path": (lambda d: d["paths"].pop("/v1/items"), "path removed: /v1/items"),
    "removed operation": (lambda d: d["paths"]["/v1/items"].pop("post"), "operation removed: POST /v1/items"),
    "removed 2xx status": (lambda d: create_item(d)["responses"].pop("201"), "POST /v1/items: response 201 removed"),
    "removed error status": (
        lambda d: d["paths"]["/v1/items/{item_id}"]["get"]["responses"].pop("404"),
        "GET /v1/items/{item_id}: response 404 removed",
    ),
    "removed required response header": (
        lambda d: list_items(d)["responses"]["429"].pop("headers"),
        "GET /v1/items 429: header Retry-After no longer always sent",
    ),
    "removed response field": (
        lambda d: item(d)["properties"].pop("name"),
        "GET /v1/items 200: property name removed",
    ),
    "response field no longer required": (
        lambda d: item(d)["required"].remove("tags"),
        "GET /v1/items 200: property tags is no longer always present",
    ),
    "type change": (
        lambda d: item(d)["properties"].update(id={"type": "string"}),
        "GET /v1/items 200.id: type changed from integer to string",
    ),
    "type change of a nullable field": (
        lambda d: item(d)["properties"]["in_stock"].update(anyOf=[{"type": "string"}, {"type": "null"}]),
        "GET /v1/items 200.in_stock: type changed from boolean|null to null|string",
    ),
    "type change of a nullable field as a type list": (
        lambda d: item(d)["properties"].update(
            in_stock={"type": ["string", "null"]},
        ),
        "GET /v1/items 200.in_stock: type changed from boolean|null to null|string",
    ),
    "field became nullable": (
        lambda d: item(d)["properties"].update(name={"type": ["string", "null"]}),
        "GET /v1/items 200.name: type changed from string to null|string",
    ),
    "new anyOf branch in a response": (
        lambda d: item(d)["properties"]["price"]["anyOf"].append({"type": "string"}),
        "GET /v1/items 200.price: type changed from integer|object to integer|object|string",
    ),
    "field inside a oneOf branch removed": (
        lambda d: d["components"]["schemas"]["Price"]["properties"].pop("currency"),
        "GET /v1/items 200.price: property currency removed",
    ),
    "array item type change": (
        lambda d: item(d)["properties"]["tags"].update(items={"type": "integer"}),
        "GET /v1/items 200.tags[]: type changed from string to integer",
    ),
    "enum value added to a response": (
        lambda d: item(d)["properties"]["status"]["enum"].append("draft"),
        "GET /v1/items 200.status: enum value 'draft' added to a response",
    ),
    "new required parameter": (_add_required_parameter, "GET /v1/items: parameter X-Tenant (header) is newly required"),
    "parameter became required": (
        lambda d: list_items(d)["parameters"][0].update(required=True),
        "GET /v1/items: parameter limit (query) is newly required",
    ),
    "parameter type narrowed": (
        lambda d: list_items(d)["parameters"][0]["schema"].update(type="string"),
        "GET /v1/items: parameter limit (query): type changed from integer to string",
    ),
    "parameter bound tightened": (
        lambda d: list_items(d)["parameters"][0]["schema"].update(maximum=20),
        "GET /v1/items: parameter limit (query): maximum lowered to 20",
    ),
    "required request body field added": (
        _add_required_body_field,
        "POST /v1/items request: request property owner is newly required",
    ),
    "request field type narrowed": (
        lambda d: new_item(d)["properties"].update(name={"type": "integer"}),
        "POST /v1/items request.name: type changed from string to integer",
    ),
    "enum value removed from a request": (
        lambda d: new_item(d)["properties"]["colour"]["enum"].remove("blue"),
        "POST /v1/items request.colour: enum value 'blue' no longer accepted",
    ),
    "request media type dropped": (
        lambda d: create_item(d)["requestBody"].update(content={"application/xml": {"schema": {}}}),
        "POST /v1/items: request body application/json no longer accepted",
    ),
    "public operation needs credentials": (
        lambda d: list_items(d)["security"].remove({}),
        "GET /v1/items: security no longer met by no credentials",
    ),
}

ADDITIVE: dict[str, Edit] = {
    "added optional field": _add_optional_field,
    "added path": lambda d: d["paths"].update({"/v1/other": {"get": {"responses": {"200": {"description": "x"}}}}}),
    "added operation": lambda d: d["paths"]["/v1/items/{item_id}"].update(delete={"responses": {}}),
    "added optional parameter": _add_optional_parameter,
    "added status": lambda d: list_items(d)["responses"].update({"409": {"description": "Conflict"}}),
    "description change": lambda d: list_items(d).update(summary="Other words", description="More words"),
    "parameter bound relaxed": lambda d: list_items(d)["parameters"][0]["schema"].update(maximum=100),
    "enum value removed from a response": lambda d: item(d)["properties"]["status"]["enum"].remove("retired"),
    "enum value added to a request": lambda d: new_item(d)["properties"]["colour"]["enum"].append("green"),
    "response field no longer nullable": lambda d: item(d)["properties"].update(in_stock={"type": "boolean"}),
    "parameter removed": lambda d: list_items(d).update(parameters=[]),
    "operation became public": lambda d: create_item(d)["security"].insert(0, {}),
    "model renamed": lambda d: _rename_model(d, "Price", "Cost"),
}


def _rename_model(doc: dict[str, Any], old: str, new: str) -> None:
    schemas = doc["components"]["schemas"]
    schemas[new] = schemas.pop(old)
    for branch in item(doc)["properties"]["price"]["anyOf"]:
        if branch.get("$ref") == f"#/components/schemas/{old}":
            branch["$ref"] = f"#/components/schemas/{new}"


def edited(edit: Edit) -> dict[str, Any]:
    new = copy.deepcopy(document())
    edit(new)
    return new


def test_identical_documents_have_no_breaking_change() -> None:
    assert breaking_changes(document(), document()) == []


@pytest.mark.parametrize("name", list(BREAKING))
def test_a_breaking_edit_is_flagged(name: str) -> None:
    edit, expected = BREAKING[name]
    assert expected in breaking_changes(document(), edited(edit))


@pytest.mark.parametrize("name", list(ADDITIVE))
def test_an_additive_edit_passes(name: str) -> None:
    assert breaking_changes(document(), edited(ADDITIVE[name])) == []


def test_an_operation_without_security_inherits_the_documents() -> None:
    old = copy.deepcopy(document())
    for operation in (op for methods in old["paths"].values() for op in methods.values()):
        operation.pop("security")
    old["security"] = [{"bearerAuth": []}]
    new = copy.deepcopy(old)
    assert breaking_changes(old, new) == []
    new["security"] = [{"bearerAuth": [], "apiKey": []}]
    assert "GET /v1/items: security no longer met by bearerAuth" in breaking_changes(old, new)
