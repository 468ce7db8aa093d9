"""Persisted queries: documents known by their SHA-256.

The allowlist file (sha256 hex → document) is loaded at start; every entry's hash is
checked. Clients send ``extensions.persistedQuery.sha256Hash`` with or without the
document (automatic persisted queries). With ``persisted_only`` on, only allowlisted
documents run; otherwise a client may register a document by sending it with its hash.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from shared.errors import ConfigError

MAX_REGISTERED = 5000


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedQueries:
    def __init__(self, allowlist: Mapping[str, str]) -> None:
        self._allowlist = dict(allowlist)
        self._registered: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def from_file(cls, path: Path | None) -> PersistedQueries:
        if path is None:
            return cls({})
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(str(path), [("graphql.persisted_queries_file", f"cannot read: {exc}")]) from exc
        if not isinstance(data, dict):
            raise ConfigError(str(path), [("graphql.persisted_queries_file", "must be a JSON object hash → document")])
        wrong = [h for h, doc in data.items() if not isinstance(doc, str) or sha256(doc) != h]
        if wrong:
            raise ConfigError(
                str(path), [("graphql.persisted_queries_file", f"hash does not match document: {wrong[:3]}")]
            )
        return cls(data)

    def __len__(self) -> int:
        return len(self._allowlist)

    def resolve(self, query: str | None, extensions: Any, *, persisted_only: bool) -> str:
        """The document to run, or ``PersistedQueryError`` saying why there is none."""
        if query == "":
            query = None  # an empty document is a missing one (strawberry raises on it, a 500)
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is not None:
            digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if not isinstance(digest, str) or len(digest) != 64:
                raise PersistedQueryError(
                    "extensions.persistedQuery.sha256Hash must be a SHA-256 hex digest", "BAD_REQUEST"
                )
            if query is None:
                known = self._allowlist.get(digest) or (None if persisted_only else self._registered.get(digest))
                if known is None:
                    # 200 with this code tells an APQ client to resend with the document.
                    raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", status=200)
                return known
            if sha256(query) != digest:
                raise PersistedQueryError("the document does not match its sha256Hash", "PERSISTED_QUERY_HASH_MISMATCH")
            if not persisted_only:
                self._register(digest, query)
        if query is None:
            raise PersistedQueryError("the request has no 'query'", "BAD_REQUEST")
        if persisted_only and sha256(query) not in self._allowlist:
            raise PersistedQueryError(
                "only persisted queries are accepted here; this document is not in the allowlist",
                "PERSISTED_QUERY_REQUIRED",
                status=403,
            )
        return query

    def _register(self, digest: str, query: str) -> None:
        if digest in self._allowlist:
            return
        self._registered[digest] = query
        self._registered.move_to_end(digest)
        while len(self._registered) > MAX_REGISTERED:
            self._registered.popitem(last=False)


__all__ = ["PersistedQueries", "PersistedQueryError", "sha256"]
