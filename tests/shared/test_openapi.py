"""OpenAPI documents built from Endpoint declarations and what the process enforces."""

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from shared import Endpoint, Enforcement, Param, build_openapi
from shared.openapi import PRODUCTION


class Item(BaseModel):
    id: int
    name: str
    note: str | None = None


class NewItem(BaseModel):
    name: str


async def handler(request: Request) -> Response:
    return Response()


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/items/{item_id}",
        handler,
        "An item",
        Item,
        "getItem",
        params=[Param("item_id", "path", {"type": "integer"}, "id")],
        errors=[404],
        access="anyone",
    ),
    Endpoint("POST", "/v1/items", handler, "Create", Item, "createItem", status=201, body=NewItem),
]


def document(enforcement: Enforcement = PRODUCTION) -> dict[str, Any]:
    return build_openapi("t", "1", "d", ENDPOINTS, enforcement)


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][path][method]
    return found


def test_built_document_describes_paths_models_and_problems() -> None:
    doc = document()
    get = operation(doc, "get", "/v1/items/{item_id}")
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert "application/problem+json" in get["responses"]["404"]["content"]
    assert get["parameters"][0]["required"] is True
    assert set(doc["components"]["schemas"]) == {"Item", "NewItem", "Problem"}


def test_every_error_is_problem_json_referencing_one_problem_schema() -> None:
    for method, path in (("get", "/v1/items/{item_id}"), ("post", "/v1/items")):
        for status, response in operation(document(), method, path)["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }


def test_jwt_mode_declares_a_bearer_scheme_and_no_user_id_header() -> None:
    doc = document(Enforcement(auth_mode="jwt"))
    assert doc["components"]["securitySchemes"]["bearerAuth"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "",
    }
    assert "X-User-Id" not in str(doc)
    assert operation(doc, "post", "/v1/items")["security"] == [{"bearerAuth": []}]
    assert operation(doc, "get", "/v1/items/{item_id}")["security"] == [{}, {"bearerAuth": []}]


def test_jwt_mode_documents_401_with_a_challenge_on_every_operation() -> None:
    doc = document(Enforcement(auth_mode="jwt"))
    for method, path in (("get", "/v1/items/{item_id}"), ("post", "/v1/items")):
        unauthorized = operation(doc, method, path)["responses"]["401"]
        assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True


def test_trusted_header_mode_declares_the_user_id_header_as_its_only_scheme() -> None:
    doc = document(Enforcement(auth_mode="trusted_header"))
    schemes = doc["components"]["securitySchemes"]
    assert list(schemes) == ["userId"]
    assert schemes["userId"]["in"] == "header" and schemes["userId"]["name"] == "X-User-Id"
    assert operation(doc, "post", "/v1/items")["security"] == [{"userId": []}]
    # A public operation answers no 401 when credentials are a header believed as is.
    assert "401" not in operation(doc, "get", "/v1/items/{item_id}")["responses"]


def test_sessions_add_the_cookie_and_csrf_on_state_changing_operations() -> None:
    doc = document(Enforcement(session_cookie="__Host-bff_session"))
    schemes = doc["components"]["securitySchemes"]
    assert schemes["sessionCookie"] | {"description": ""} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "__Host-bff_session",
        "description": "",
    }
    assert schemes["csrfToken"]["name"] == "X-CSRF-Token"
    post = operation(doc, "post", "/v1/items")
    assert post["security"] == [{"bearerAuth": []}, {"sessionCookie": [], "csrfToken": []}]
    assert "403" in post["responses"]
    get = operation(doc, "get", "/v1/items/{item_id}")
    assert get["security"] == [{}, {"bearerAuth": []}, {"sessionCookie": []}]
    assert "403" not in get["responses"]


def test_rate_limiting_documents_429_with_retry_after_only_while_on() -> None:
    limited = operation(document(Enforcement(rate_limited=True)), "get", "/v1/items/{item_id}")
    assert limited["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    unlimited = operation(document(Enforcement(rate_limited=False)), "get", "/v1/items/{item_id}")
    assert "429" not in unlimited["responses"]


def test_body_statuses_only_on_operations_with_a_body() -> None:
    doc = document()
    assert {"413", "415"} <= set(operation(doc, "post", "/v1/items")["responses"])
    assert not {"413", "415"} & set(operation(doc, "get", "/v1/items/{item_id}")["responses"])


def test_a_parameter_that_may_be_empty_is_documented_as_allow_empty_value() -> None:
    optional = Param("region", "query", {"type": "string", "enum": ["eu"]}, "Region", allow_empty=True)
    endpoint = Endpoint("GET", "/v1/items", handler, "Items", Item, "listItems", params=[optional])
    parameter = build_openapi("t", "1", "d", [endpoint])["paths"]["/v1/items"]["get"]["parameters"][0]
    assert parameter["allowEmptyValue"] is True
    assert "allowEmptyValue" not in operation(document(), "get", "/v1/items/{item_id}")["parameters"][0]
