"""Cache keys that carry no raw personal data.

A key names the operation and its response schema version in clear (so operators can
invalidate by prefix) and everything else, parameters and the user, only as an HMAC::

    bff:accounts.get_user:s3f9a1c2e:{5b0c…}   (never "user_id=7")

The digest is the key's hash tag (in braces), so on a Redis Cluster an entry and its
refill lock (``…:{5b0c…}:lock``) live in one slot, and entries spread over every shard.
A tag set is one key of its own: it is only ever read and written alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson


class CacheKeys:
    def __init__(self, prefix: str, hmac_key: bytes) -> None:
        self.prefix = prefix
        self._hmac_key = hmac_key

    @property
    def secret(self) -> bytes:
        """The HMAC key, for other stores that key by client (the rate limiter)."""
        return self._hmac_key

    def _digest(self, data: bytes) -> str:
        # hmac.digest is the one-call C path; the same 128 bits as hmac.new(...).hexdigest()[:32].
        return hmac.digest(self._hmac_key, data, "sha256")[:16].hex()

    def entry(self, operation: str, schema: str, params: Mapping[str, Any], user: str | None) -> str:
        canonical = orjson.dumps({"p": params, "u": user}, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return f"{self.prefix}:{operation}:{schema}:{{{self._digest(canonical)}}}"

    def operation_prefix(self, operation: str) -> str:
        """Every entry of one operation starts with this (for invalidation by prefix)."""
        return f"{self.prefix}:{operation}:"

    def tag(self, entity: str) -> str:
        """The set of keys holding data about ``entity`` (e.g. ``product:42``)."""
        return f"{self.prefix}:tag:{self._digest(entity.encode())}"

    def lock(self, key: str) -> str:
        """The refill lock of entry ``key``: the same hash tag, so the same slot."""
        return f"{key}:lock"

    @property
    def channel(self) -> str:
        """The pub/sub channel invalidation events travel on."""
        return f"{self.prefix}:invalidate"


__all__ = ["CacheKeys"]
