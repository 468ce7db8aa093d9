"""``bff pii scan``: personal data in clear in a running Redis and in log files.

For a compliance review, an SRE points it at every Redis node and at the processes' log
files; it names each place personal data is stored in clear and exits 1, or prints a
summary and exits 0. It never prints the value it found.

What counts as personal data comes from the PII marks on the registered upstreams'
models (``shared.pii``), by key and by shape, not from a list of known values:

- a JSON member whose key is a marked field (``email``, ``postalCode``) with a value that
  is not masked (``a***@…``, ``[redacted]``, empty). A marked name that other models use
  for something else (a product's ``name``) counts only inside an object shaped like the
  marked model (most of that model's fields present);
- in free text, a marked name followed by ``=`` or ``:`` and a value (``street='…'``);
- anything shaped like an e-mail address or a phone number.

Redis is walked with ``SCAN`` (never ``KEYS``), each value read by its type (strings
only up to ``max_bytes``, hashes, sets and sorted sets by their own cursors, lists in
pages), so memory stays bounded. A cache entry sealed with AES-GCM, and any value that
is not UTF-8 text (what a sealed session is), is never flagged. A Cluster URL stands
for every primary of the cluster (redis-py's ``RedisCluster`` finds them)::

    bff pii scan --redis redis://cache-0:6379/0 --redis redis://cache-1:6379/0 --log /var/log/bff/mobile.log
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
from pydantic import BaseModel
from redis.cluster import RedisCluster

from shared.cache.entry import Entry, EntryError
from shared.operations import UpstreamSpec
from shared.pii import PIIMarker
from shared.telemetry.redaction import key_forms

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_CANNOT_SCAN = 2

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d[\d ()-]{7,}\d")
_WORD_BEFORE = re.compile(r"""([A-Za-z_][\w.]*)\\?["']?\s*[:=]\s*(?:\\?["'])?([^\s"',;)}\]\\]*)""")
_MASKS = ("***", "[redacted")


@dataclass(frozen=True, slots=True)
class Finding:
    #: ``redis://host:port/db key 'bff:…'`` or ``path:line``.
    where: str
    #: The marked field (``address.street``), or ``e-mail`` / ``phone`` for a shape.
    field: str
    #: How it was recognised: ``JSON member``, ``assigned in text``, ``shape``.
    how: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field} in clear ({self.how})"


@dataclass(frozen=True, slots=True)
class _Shape:
    """A model with marked fields: each field's keys, and which of them are marked."""

    fields: tuple[frozenset[str], ...]
    marked: dict[str, str]  # key as written -> the marked field's dotted name


def _models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for info in model.model_fields.values():
        yield from _nested(info.annotation)


def _nested(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _models(annotation)
    for arg in getattr(annotation, "__args__", ()):
        yield from _nested(arg)


class Detector:
    """Recognises values of PII-marked fields in clear in JSON and in free text."""

    def __init__(self, models: Iterable[type[BaseModel]]) -> None:
        shapes: list[_Shape] = []
        unmarked: set[str] = set()
        self.marked: dict[str, str] = {}  # key -> dotted field
        seen: set[type[BaseModel]] = set()
        for top in models:
            for model in _models(top):
                if model in seen:
                    continue
                seen.add(model)
                fields: list[frozenset[str]] = []
                marked: dict[str, str] = {}
                for name, info in model.model_fields.items():
                    forms = frozenset(key_forms(name))
                    fields.append(forms)
                    if any(isinstance(meta, PIIMarker) for meta in info.metadata):
                        marked.update(dict.fromkeys(forms, f"{model.__name__}.{name}"))
                    else:
                        unmarked |= forms
                if marked:
                    shapes.append(_Shape(tuple(fields), marked))
                    self.marked.update(marked)
        self._shapes = shapes
        #: Marked names some model also uses for data that is not personal.
        self.ambiguous = frozenset(self.marked) & frozenset(unmarked)

    def text(self, text: str) -> list[tuple[str, str]]:
        """``(field, how)`` for each value in clear in ``text`` (JSON or free text)."""
        stripped = text.strip()
        if stripped[:1] in ("{", "["):
            try:
                return self.json(orjson.loads(stripped))
            except orjson.JSONDecodeError:
                pass
        return self._free_text(text)

    def json(self, data: Any) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if isinstance(data, dict):
            shaped = {key for shape in self._shapes if _fits(shape, data) for key in shape.marked}
            for key, value in data.items():
                if key in self.marked and (key not in self.ambiguous or key in shaped) and _clear(value):
                    found.append((self.marked[key], "JSON member"))
                else:
                    found += self.json(value)
        elif isinstance(data, list):
            for item in data:
                found += self.json(item)
        elif isinstance(data, str):
            found += self.text(data) if data.strip()[:1] in ("{", "[") else self._free_text(data)
        return found

    def _free_text(self, text: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if "=" in text or ":" in text:
            for match in _WORD_BEFORE.finditer(text):
                key, value = match[1], match[2]
                if key in self.marked and key not in self.ambiguous and _clear(value):
                    found.append((self.marked[key], "assigned in text"))
        if "@" in text and _EMAIL.search(text):
            found.append(("e-mail", "shape"))
        if "+" in text and _PHONE.search(text):
            found.append(("phone", "shape"))
        return found


def _fits(shape: _Shape, data: dict[str, Any]) -> bool:
    """``data`` has at least half the model's fields (and two): it is one of its objects."""
    present = sum(1 for forms in shape.fields if not forms.isdisjoint(data))
    return present >= 2 and present * 2 >= len(shape.fields)


def _clear(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not any(mask in value for mask in _MASKS)
    return isinstance(value, (int, float))


# --- Redis ---------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    nodes: int = 0
    keys: int = 0
    sealed: int = 0
    binary: int = 0
    files: int = 0
    lines: int = 0
    findings: list[Finding] = field(default_factory=list)


def redis_nodes(url: str) -> list[tuple[str, redis.Redis]]:
    """``(name, client)`` for the node at ``url``, or for every primary of its cluster."""
    client: redis.Redis = redis.Redis.from_url(url, socket_timeout=5)
    info = client.info("cluster")
    if not info.get("cluster_enabled"):
        return [(_name(client), client)]
    client.close()
    cluster = RedisCluster.from_url(url, socket_timeout=5)
    try:
        primaries = [(node.host, node.port) for node in cluster.get_primaries()]  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    nodes = []
    for host, port in primaries:
        netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
        node: redis.Redis = redis.Redis.from_url(
            urlunsplit((parts.scheme, netloc, "/0", parts.query, "")), socket_timeout=5
        )
        nodes.append((_name(node), node))
    return nodes


def _name(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


def scan_redis(
    client: redis.Redis,
    name: str,
    detector: Detector,
    tally: Tally,
    *,
    match: str = "*",
    count: int = 500,
    max_bytes: int = 1 << 20,
) -> None:
    """Every key of the node matching ``match``, by ``SCAN``, each value by its type."""
    for key in client.scan_iter(match=match, count=count):
        tally.keys += 1
        where = f"{name} key {key.decode(errors='replace')!r}"
        kind = client.type(key)
        if kind == b"string":
            values: Iterable[tuple[str, Any]] = [("", client.getrange(key, 0, max_bytes - 1))]
        elif kind == b"hash":
            values = ((field_.decode(errors="replace"), value) for field_, value in client.hscan_iter(key, count=count))
        elif kind == b"set":
            values = (("", member) for member in client.sscan_iter(key, count=count))
        elif kind == b"zset":
            values = (("", member) for member, _ in client.zscan_iter(key, count=count))
        elif kind == b"list":
            values = (("", item) for item in _list_items(client, key, count))
        else:
            continue  # streams and modules' types hold no cache data of ours
        for hash_field, raw in values:
            for found, how in _stored_value(raw, hash_field, detector, tally):
                tally.findings.append(Finding(f"{where} field {hash_field!r}" if hash_field else where, found, how))


def _list_items(client: redis.Redis, key: bytes, page: int) -> Iterator[Any]:
    start = 0
    while True:
        items = client.lrange(key, start, start + page - 1)
        yield from items
        if len(items) < page:
            return
        start += page


def _stored_value(raw: bytes | str, hash_field: str, detector: Detector, tally: Tally) -> list[tuple[str, str]]:
    if isinstance(raw, str):  # a client made with decode_responses
        raw = raw.encode()
    if raw[:2] == b"B1":
        try:
            entry = Entry.decode(raw)
        except EntryError:
            pass
        else:
            if entry.sealed:
                tally.sealed += 1
                return []
            raw = entry.body
    try:
        text = raw.decode()
    except UnicodeDecodeError:  # sealed (a session, a rate limit's digest) or binary
        tally.binary += 1
        return []
    if hash_field and hash_field in detector.marked and hash_field not in detector.ambiguous and _clear(text):
        return [(detector.marked[hash_field], "hash field")]
    return detector.text(text)


# --- logs ----------------------------------------------------------------------------


def scan_log(path: Path, detector: Detector, tally: Tally) -> None:
    tally.files += 1
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            tally.lines += 1
            for found, how in detector.text(line):
                tally.findings.append(Finding(f"{path}:{number}", found, how))


# --- the command ---------------------------------------------------------------------


def run_scan(
    upstreams: Sequence[UpstreamSpec],
    redis_urls: Sequence[str],
    log_paths: Sequence[Path],
    *,
    match: str = "*",
    out: TextIO,
    err: TextIO,
) -> int:
    """Scan, print each finding and a summary to ``out``; the exit code."""
    detector = Detector(op.response for spec in upstreams for op in spec.operations)
    tally = Tally()
    try:
        for url in redis_urls:
            for name, client in redis_nodes(url):
                tally.nodes += 1
                try:
                    scan_redis(client, name, detector, tally, match=match)
                finally:
                    client.close()
        for path in log_paths:
            scan_log(path, detector, tally)
    except redis.RedisError as exc:
        err.write(f"bff pii scan: cannot scan Redis ({exc}); check --redis {' '.join(redis_urls)}\n")
        return EXIT_CANNOT_SCAN
    except OSError as exc:
        err.write(f"bff pii scan: cannot read a log file: {exc}\n")
        return EXIT_CANNOT_SCAN
    for finding in tally.findings:
        out.write(f"{finding}\n")
    scanned = (
        f"{tally.keys} keys on {tally.nodes} Redis node(s) ({tally.sealed} sealed, {tally.binary} binary, not read),"
        f" {tally.lines} lines in {tally.files} log file(s)"
    )
    if tally.findings:
        out.write(f"pii scan: {len(tally.findings)} finding(s) of personal data in clear; scanned {scanned}\n")
        return EXIT_FOUND
    out.write(f"pii scan: clean; scanned {scanned}\n")
    return EXIT_CLEAN


__all__ = [
    "EXIT_CANNOT_SCAN",
    "EXIT_CLEAN",
    "EXIT_FOUND",
    "Detector",
    "Finding",
    "Tally",
    "redis_nodes",
    "run_scan",
    "scan_log",
    "scan_redis",
]
