"""GraphQL over HTTP at /graphql.

* POST ``application/json``: one operation ``{query, variables, operationName, extensions}``
  or a batch (a JSON array, at most ``graphql.max_batch``).
* GET with the same as query parameters, for queries only (cacheable; ETag honoured).
* Answers ``application/graphql-response+json`` when the client accepts it, with the
  status codes of the GraphQL-over-HTTP specification: 200 when execution started (even
  with field errors: partial data), 4xx when the request could not be executed at all
  (parse, validation, variables); ``application/json`` clients get 200 for both.
* GraphiQL on a browser's GET, when enabled.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from bff_web.deps import deps_of
from bff_web.graphql.context import GraphQLContext
from bff_web.graphql.errors import format_error, request_error
from bff_web.graphql.ide import graphiql_html
from bff_web.graphql.limits import RequestBudget
from bff_web.graphql.loaders import Loaders
from bff_web.graphql.persisted import PersistedQueries, PersistedQueryError
from bff_web.graphql.schema import Schema, build_schema
from bff_web.settings import GraphQLSettings
from shared.identity import optional_caller_id
from shared.inputs import json_content_type_error
from shared.responses import etag_for

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
log = logging.getLogger("bff.graphql")


class GraphQLService:
    """The schema for the limits in force and the persisted-query store; lives in the lifespan."""

    def __init__(self, persisted: PersistedQueries) -> None:
        self.persisted = persisted
        self._schemas: dict[GraphQLSettings, Schema] = {}

    def schema(self, settings: GraphQLSettings) -> Schema:
        schema = self._schemas.get(settings)
        if schema is None:
            schema = self._schemas[settings] = build_schema(settings)
        return schema


async def graphql(request: Request) -> Response:
    deps = deps_of(request)
    service: GraphQLService = request.state.graphql
    settings = deps.settings.graphql
    media = _response_media_type(request)
    if media is None:
        return _reply(
            {
                "errors": [
                    request_error("accept application/graphql-response+json or application/json", "NOT_ACCEPTABLE")
                ]
            },
            406,
            JSON,
        )
    if request.method == "GET" and settings.graphiql and "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(graphiql_html())
    try:
        operations, batched = await _operations(request, settings)
    except _RequestError as exc:
        return _reply({"errors": [request_error(exc.message, exc.code)]}, exc.status, media)

    user_id = _optional_caller(request)
    deadline = deps.deadline()
    context = GraphQLContext(
        deps=deps,
        user_id=user_id,
        deadline=deadline,
        loaders=Loaders(deps, deadline),
        budget=RequestBudget(tokens=settings.max_tokens),
    )
    schema = service.schema(settings)
    results = []
    for operation in operations:
        results.append(await _execute(request, schema, service, settings, context, operation, media))
    if batched:
        status = 200 if any(status == 200 for status, _ in results) else results[0][0]
        return _reply([body for _, body in results], status, media)
    status, body = results[0]
    if request.method == "GET" and status == 200:
        return _reply_cacheable(request, body, media)
    response = _reply(body, status, media)
    if status == 405:
        response.headers["Allow"] = "POST"
    return response


async def _execute(
    request: Request,
    schema: Schema,
    service: GraphQLService,
    settings: GraphQLSettings,
    context: GraphQLContext,
    operation: dict[str, Any],
    media: str,
) -> tuple[int, dict[str, Any]]:
    query = operation.get("query")
    variables = operation.get("variables")
    if query is not None and not isinstance(query, str):
        return 400, {"errors": [request_error("'query' must be a string", "BAD_REQUEST")]}
    if variables is not None and not isinstance(variables, dict):
        return 400, {"errors": [request_error("'variables' must be an object", "BAD_REQUEST")]}
    if operation.get("operationName") is not None and not isinstance(operation["operationName"], str):
        return 400, {"errors": [request_error("'operationName' must be a string", "BAD_REQUEST")]}
    if operation.get("extensions") is not None and not isinstance(operation["extensions"], dict):
        return 400, {"errors": [request_error("'extensions' must be an object", "BAD_REQUEST")]}
    try:
        document = service.persisted.resolve(query, operation.get("extensions"), persisted_only=settings.persisted_only)
    except PersistedQueryError as exc:
        return exc.status, {"errors": [request_error(exc.message, exc.code)]}
    if len(document.encode()) > settings.max_document_bytes:
        message = f"the document is larger than {settings.max_document_bytes} bytes"
        return 400, {"errors": [request_error(message, "DOCUMENT_TOO_LARGE", limit=settings.max_document_bytes)]}
    allowed = {OperationType.QUERY} if request.method == "GET" else {OperationType.QUERY, OperationType.MUTATION}
    operation_name = operation.get("operationName")
    try:
        result = await schema.execute(
            document,
            variable_values=variables,
            context_value=context,
            operation_name=operation_name,
            allowed_operation_types=allowed,
        )
    except InvalidOperationTypeError as exc:
        if exc.operation_type is OperationType.SUBSCRIPTION:
            message = "subscriptions are not served over HTTP here; send a query (GET or POST) or a mutation (POST)"
            return 400, {"errors": [request_error(message, "OPERATION_NOT_SUPPORTED")]}
        return 405, {"errors": [request_error("only queries may be sent with GET; use POST", "METHOD_NOT_ALLOWED")]}
    except CannotGetOperationTypeError as exc:
        # The client's own mistake, answered (with its own input) and never logged: an
        # operation name is free text and may be anything, personal data included.
        message = (
            "the document holds several operations; name the one to run in 'operationName'"
            if exc.operation_name is None
            else f"the document has no operation named {exc.operation_name[:100]!r}"
        )
        return 400, {"errors": [request_error(message, "OPERATION_RESOLUTION_FAILURE")]}
    body: dict[str, Any] = {}
    errors = [format_error(error) for error in result.errors or ()]
    # A request that never reached execution (parse, validation, variables) has no data.
    executed = not isinstance(result, PreExecutionError) and not (
        result.data is None and errors and all("path" not in error for error in errors)
    )
    if executed:
        body["data"] = result.data
    if errors:
        body["errors"] = errors
    status = 200 if executed or media == JSON else 400
    return status, body


class _RequestError(Exception):
    def __init__(self, message: str, code: str = "BAD_REQUEST", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


async def _operations(request: Request, settings: GraphQLSettings) -> tuple[list[dict[str, Any]], bool]:
    if request.method == "GET":
        params = request.query_params
        operation: dict[str, Any] = {"query": params.get("query"), "operationName": params.get("operationName")}
        for name in ("variables", "extensions"):
            if name in params:
                try:
                    operation[name] = orjson.loads(params[name])
                except orjson.JSONDecodeError:
                    raise _RequestError(f"query parameter '{name}' is not valid JSON") from None
        return [operation], False
    media_error = json_content_type_error(request)
    if media_error is not None:
        raise _RequestError(f"POST {media_error[0]}", "UNSUPPORTED_MEDIA_TYPE", 415)
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _RequestError(f"the body is not valid JSON: {exc.msg}") from None
    if isinstance(payload, dict):
        return [payload], False
    if isinstance(payload, list) and payload and all(isinstance(item, dict) for item in payload):
        if len(payload) > settings.max_batch:
            raise _RequestError(
                f"a batch may hold at most {settings.max_batch} operations, got {len(payload)}", "BATCH_TOO_LARGE"
            )
        return payload, True
    raise _RequestError("the body must be a JSON object (one operation) or a non-empty array of them (a batch)")


def _optional_caller(request: Request) -> int | None:
    return optional_caller_id(request)


def _response_media_type(request: Request) -> str | None:
    accept = request.headers.get("accept", "")
    if not accept or GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE
    if JSON in accept or "*/*" in accept or "application/*" in accept or "text/html" in accept:
        return JSON
    return None


def _reply(body: Any, status: int, media: str) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media)


def _reply_cacheable(request: Request, body: Any, media: str) -> Response:
    encoded = orjson.dumps(body)
    etag = etag_for(encoded)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept, X-User-Id"}
    if request.headers.get("if-none-match", "").strip().removeprefix("W/") == etag.removeprefix("W/"):
        return Response(status_code=304, headers=headers)
    return Response(encoded, status_code=200, media_type=media, headers=headers)


__all__ = ["GraphQLService", "graphql"]
