"""The breaking-change check that guards committed OpenAPI snapshots."""

import copy
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from shared import Endpoint, Param, breaking_changes, build_openapi


class Item(BaseModel):
    id: int
    name: str
    note: str | None = None


class NewItem(BaseModel):
    name: str


async def handler(request: Request) -> Response:
    return Response()


def document() -> dict[str, Any]:
    endpoints = [
        Endpoint(
            "GET",
            "/v1/items/{item_id}",
            handler,
            "An item",
            Item,
            "getItem",
            params=[Param("item_id", "path", {"type": "integer"}, "id")],
            errors=[404],
        ),
        Endpoint("POST", "/v1/items", handler, "Create", Item, "createItem", status=201, body=NewItem),
    ]
    return build_openapi("t", "1", "d", endpoints)


def test_identical_documents_have_no_breaking_change() -> None:
    assert breaking_changes(document(), document()) == []


def test_built_document_describes_paths_models_and_problems() -> None:
    doc = document()
    get = doc["paths"]["/v1/items/{item_id}"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert "application/problem+json" in get["responses"]["404"]["content"]
    assert get["parameters"][0]["required"] is True
    assert set(doc["components"]["schemas"]) == {"Item", "NewItem", "Problem"}


def test_adding_a_path_or_an_optional_property_is_not_breaking() -> None:
    new = copy.deepcopy(document())
    new["paths"]["/v1/other"] = {"get": {"responses": {}}}
    new["components"]["schemas"]["Item"]["properties"]["extra"] = {"type": "string"}
    assert breaking_changes(document(), new) == []


def test_removing_a_path_is_breaking() -> None:
    new = copy.deepcopy(document())
    del new["paths"]["/v1/items"]
    assert breaking_changes(document(), new) == ["path removed: /v1/items"]


def test_removing_a_response_property_is_breaking() -> None:
    new = copy.deepcopy(document())
    del new["components"]["schemas"]["Item"]["properties"]["name"]
    problems = breaking_changes(document(), new)
    assert "GET /v1/items/{item_id} 200: property name removed" in problems


def test_changing_a_property_type_is_breaking() -> None:
    new = copy.deepcopy(document())
    new["components"]["schemas"]["Item"]["properties"]["id"] = {"type": "string"}
    assert any("id: type changed" in p for p in breaking_changes(document(), new))


def test_a_newly_required_parameter_is_breaking() -> None:
    new = copy.deepcopy(document())
    new["paths"]["/v1/items"]["post"]["parameters"].append(
        {"name": "X-Tenant", "in": "header", "required": True, "schema": {"type": "string"}}
    )
    assert breaking_changes(document(), new) == ["POST /v1/items: parameter X-Tenant (header) is newly required"]


def test_a_newly_required_request_property_is_breaking() -> None:
    new = copy.deepcopy(document())
    schema = new["components"]["schemas"]["NewItem"]
    schema["properties"]["owner"] = {"type": "string"}
    schema["required"].append("owner")
    assert breaking_changes(document(), new) == ["POST /v1/items request: request property owner is newly required"]


def test_a_removed_error_response_is_breaking() -> None:
    new = copy.deepcopy(document())
    del new["paths"]["/v1/items/{item_id}"]["get"]["responses"]["404"]
    assert breaking_changes(document(), new) == ["GET /v1/items/{item_id}: response 404 removed"]


def test_a_parameter_that_may_be_empty_is_documented_as_allow_empty_value() -> None:
    optional = Param("region", "query", {"type": "string", "enum": ["eu"]}, "Region", allow_empty=True)
    endpoint = Endpoint("GET", "/v1/items", handler, "Items", Item, "listItems", params=[optional])
    parameter = build_openapi("t", "1", "d", [endpoint])["paths"]["/v1/items"]["get"]["parameters"][0]
    assert parameter["allowEmptyValue"] is True
    assert "allowEmptyValue" not in document()["paths"]["/v1/items/{item_id}"]["get"]["parameters"][0]
