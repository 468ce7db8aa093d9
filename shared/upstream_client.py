"""Calling one upstream: regions in failover order, timeouts within the deadline, and
the translation of transport failures and bad answers into the error tree.

The policy pipeline (bulkhead, breaker, retry) attaches around ``_attempt``; this
module keeps the order of the steps in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ValidationError

from shared.deadline import Deadline
from shared.errors import (
    TransportConnectError,
    TransportError,
    TransportTimeout,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shared.http.transport import Transport, UpstreamResponse
from shared.middleware.request_id import current_request_id
from shared.operations import ModelT, Operation
from shared.policy import CallPolicy
from shared.types import QueryParams

IDEMPOTENCY_HEADER = "Idempotency-Key"
_SYSTEM_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    base_url: str


class UpstreamClient:
    """The runtime handle on one upstream: its regions, policies and the transport."""

    def __init__(
        self,
        name: str,
        regions: Sequence[Region],
        policies: Mapping[str, CallPolicy],
        default_policy: CallPolicy,
        transport: Transport,
    ) -> None:
        if not regions:
            raise ValueError(f"upstream {name!r} needs at least one region")
        self.name = name
        self.regions = tuple(regions)
        self._policies = dict(policies)
        self._default_policy = default_policy
        self._transport = transport

    def policy_for(self, operation: Operation[BaseModel]) -> CallPolicy:
        return self._policies.get(operation.name, self._default_policy)

    async def call(
        self,
        operation: Operation[ModelT],
        *,
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
        params: QueryParams | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> ModelT:
        """Call ``operation`` and return its validated answer.

        Tries regions in failover order while the failure is a system failure and the
        call is safe to repeat. Raises an ``UpstreamError`` subclass otherwise.
        """
        policy = self.policy_for(operation)
        path = operation.render_path(path_params)
        body = orjson.dumps(json) if json is not None else None
        send_headers = _headers(headers, has_body=body is not None)
        repeatable = operation.idempotent or IDEMPOTENCY_HEADER in send_headers
        regions = self.regions if (policy.failover and repeatable) else self.regions[:1]

        last_error: UpstreamError | None = None
        for region in regions:
            if deadline.expired:
                break
            try:
                response = await self._attempt(operation, region, path, params, send_headers, body, policy, deadline)
                return self._answer(operation, region, response)
            except UpstreamError as exc:
                if not exc.is_system_failure:
                    raise
                last_error = exc
        if last_error is not None:
            raise last_error
        raise UpstreamTimeout(self.name, operation.name, "request deadline exceeded before the call")

    async def _attempt(
        self,
        operation: Operation[ModelT],
        region: Region,
        path: str,
        params: QueryParams | None,
        headers: Mapping[str, str],
        body: bytes | None,
        policy: CallPolicy,
        deadline: Deadline,
    ) -> UpstreamResponse:
        timeout = deadline.cap(policy.attempt_timeout)
        if timeout <= 0:
            raise UpstreamTimeout(self.name, operation.name, "request deadline exceeded", region=region.name)
        try:
            return await self._transport.send(
                operation.method,
                region.base_url + path,
                params=params,
                headers=headers,
                body=body,
                connect_timeout=min(policy.connect_timeout, timeout),
                timeout=timeout,
            )
        except TransportTimeout as exc:
            raise UpstreamTimeout(self.name, operation.name, str(exc), region=region.name) from exc
        except TransportConnectError as exc:
            raise UpstreamUnavailable(self.name, operation.name, f"cannot connect: {exc}", region=region.name) from exc
        except TransportError as exc:
            raise UpstreamUnavailable(
                self.name, operation.name, f"connection failed: {exc}", region=region.name
            ) from exc

    def _answer(self, operation: Operation[ModelT], region: Region, response: UpstreamResponse) -> ModelT:
        status = response.status
        if 200 <= status < 300:
            try:
                return operation.parse(response.body)
            except ValidationError as exc:
                reason = f"answer does not match {operation.response.__name__}: {exc.error_count()} error(s)"
                raise UpstreamBadResponse(self.name, operation.name, reason, region=region.name) from exc
        if status >= 500 or status in _SYSTEM_STATUSES:
            raise UpstreamStatusError(
                self.name, operation.name, status, region=region.name, retry_after=_retry_after(response)
            )
        if 400 <= status < 500:
            raise UpstreamRejected(self.name, operation.name, status, _error_code(response.body), region=region.name)
        raise UpstreamBadResponse(self.name, operation.name, f"unexpected HTTP {status}", region=region.name)


def _headers(extra: Mapping[str, str] | None, *, has_body: bool) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if has_body:
        headers["Content-Type"] = "application/json"
    request_id = current_request_id()
    if request_id:
        headers["X-Request-Id"] = request_id
    if extra:
        headers.update(extra)
    return headers


def _error_code(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: UpstreamResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


__all__ = ["IDEMPOTENCY_HEADER", "Region", "UpstreamClient"]
