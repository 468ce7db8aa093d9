"""Does a served OpenAPI document say what the running process enforces? For each of its
operations, requests that the middleware must refuse are sent to the real process, and
the answer is held against the document: a status it lists, with the headers it requires."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from upstreams.identity.keys import mint

#: Values for path parameters that name real resources of the stand-ins (user 7's order).
PATH_VALUES = {"{product_id}": "42", "{order_id}": "o-000007-001"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            concrete = path
            for placeholder, value in PATH_VALUES.items():
                concrete = concrete.replace(placeholder, value)
            yield method.upper(), concrete, operation


def documented(operation: dict[str, Any], answer: httpx.Response) -> list[str]:
    """What is wrong with ``answer`` by ``operation``'s document (nothing: ``[]``)."""
    where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
    response = operation["responses"].get(str(answer.status_code))
    if response is None:
        return [f"{where}: status not documented"]
    missing = [
        name
        for name, header in response.get("headers", {}).items()
        if header.get("required") and name not in answer.headers
    ]
    return [f"{where}: required header {name} missing" for name in missing]


def needs_credentials(operation: dict[str, Any]) -> bool:
    return {} not in operation["security"]


def anonymous_problems(client: httpx.Client, document: dict[str, Any]) -> list[str]:
    """Without credentials: 401 exactly where the document requires credentials."""
    problems = []
    for method, path, operation in operations(document):
        answer = client.request(method, path, json={} if "requestBody" in operation else None)
        if needs_credentials(operation) != (answer.status_code == 401):
            problems.append(f"{method} {path}: security {operation['security']} but {answer.status_code} anonymously")
        problems += documented(operation, answer)
    return problems


def refused_problems(client: httpx.Client, document: dict[str, Any], headers: dict[str, str], status: int) -> list[str]:
    """With ``headers`` every operation must answer ``status``, as documented."""
    problems = []
    for method, path, operation in operations(document):
        answer = client.request(method, path, headers=headers)
        if answer.status_code != status:
            problems.append(f"{method} {path}: {answer.status_code}, expected {status}")
        problems += documented(operation, answer)
    return problems


def body_problems(client: httpx.Client, document: dict[str, Any], max_body_bytes: int) -> list[str]:
    """A body that is not JSON (415) or too large (413), on every operation with a body."""
    token = {"Authorization": f"Bearer {mint(7)}"}
    problems = []
    for method, path, operation in operations(document):
        if "requestBody" not in operation:
            continue
        for body, content_type, status in (
            (b"name=x", "application/x-www-form-urlencoded", 415),
            (b"{" + b" " * max_body_bytes + b"}", "application/json", 413),
        ):
            headers = {**token, "Content-Type": content_type, "Idempotency-Key": "conformance-1"}
            answer = client.request(method, path, content=body, headers=headers)
            if answer.status_code != status:
                problems.append(f"{method} {path}: {answer.status_code} for a {content_type} body, expected {status}")
            problems += documented(operation, answer)
    return problems
