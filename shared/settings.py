"""Process settings: one YAML file per process, environment overrides on top.

The file is validated by pydantic into frozen models; an invalid file never starts a
process. Every problem is reported as ``key.path: reason``, for example::

    invalid configuration in mobile.yaml:
      upstreams.catalog.policy.attempt_timeout: Input should be greater than 0 (got -1)

Environment overrides use the ``BFF_`` prefix and ``__`` between levels, so
``BFF_SERVER__PORT=9000`` sets ``server.port``. Values are read as YAML scalars
(``BFF_HTTP__MAX_CONNECTIONS=64`` is an int, ``[a, b]`` a list). Two conventional names
are read too: ``REDIS_URL`` as ``cache.redis_url`` and ``BFF_TRACK`` as ``telemetry.track``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

import yaml
from pydantic import AfterValidator, Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shared.errors import ConfigError
from shared.policy import BreakerPolicy, CallPolicy, FrozenModel

ENV_PREFIX = "BFF_"


class ServerSettings(FrozenModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Larger request bodies are refused with 413.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    #: Responses at least this large are gzip-compressed when the client accepts it.
    gzip_min_bytes: int = Field(default=1024, ge=0)
    #: Above any gateway's idle timeout, so the gateway closes idle connections first.
    keepalive_seconds: float = Field(default=75.0, gt=0)
    #: Requests whose headers total more bytes get 431.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    #: Browser origins allowed to call this process (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)
    #: After SIGTERM: seconds to keep serving while not ready, so traffic moves away.
    drain_seconds: float = Field(default=10.0, ge=0, le=300)
    #: Then: seconds in-flight requests get to finish before connections are closed.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=600)
    #: Networks of the proxies in front (CIDR, e.g. ``10.0.0.0/8``; a bare address is one
    #: host). Only a connection from one of them may name the client in
    #: ``client_address_header`` (the rate limiter's bucket of anonymous callers). None by
    #: default: every client is the connection's peer, which is right when exposed directly.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    #: The header the trusted proxies write: ``x-forwarded-for`` or ``forwarded`` (RFC 7239).
    client_address_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"


#: Why ``http.transport: httpx`` is refused (bench/RESULTS.md, "Transport: httpx removed").
HTTPX_TRANSPORT_REMOVED = (
    "'httpx' is no longer a shipped transport: under the benchmark's load (32 concurrent "
    "/v1/home, 5 upstream calls each) httpcore's connection pool took about 10 ms of CPU per "
    "request against 2 with aiohttp, attempts ran past their timeouts and the breakers opened "
    "(6 answered req/s against 486, bench/RESULTS.md); the only allowed value is 'aiohttp' "
    "(or leave http.transport out)"
)


class HttpSettings(FrozenModel):
    #: The upstream transport. Only aiohttp is shipped: chosen by measurement, and httpx
    #: removed by measurement (see bench/RESULTS.md); httpx stays the unit tests' seam.
    transport: Literal["aiohttp"] = "aiohttp"
    #: Upper bound on pooled connections to all upstreams together.
    max_connections: int = Field(default=512, gt=0)
    keepalive_seconds: float = Field(default=30.0, gt=0)

    @field_validator("transport", mode="before")
    @classmethod
    def _httpx_was_removed(cls, value: Any) -> Any:
        if value == "httpx":
            raise PydanticCustomError("transport_removed", "{reason}", {"reason": HTTPX_TRANSPORT_REMOVED})
        return value


class UpstreamSettings(FrozenModel):
    """Where an upstream lives and how it is called; omitted keys keep code defaults."""

    #: Region name → base URL. Empty means the upstream's local stand-in addresses.
    regions: dict[str, str] = Field(default_factory=dict)
    #: Regions in the order they are tried; defaults to the order of ``regions``.
    failover_order: list[str] | None = None
    #: Overrides for every operation of this upstream (only the keys written here).
    policy: CallPolicy | None = None
    #: Per-operation overrides, by operation name.
    operations: dict[str, CallPolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _failover_names_known_regions(self) -> Self:
        if self.failover_order is None:
            return self
        if self.regions:
            unknown = [name for name in self.failover_order if name not in self.regions]
            if unknown:
                raise ValueError(f"unknown region(s) {unknown} in failover_order; regions are {sorted(self.regions)}")
        if len(set(self.failover_order)) != len(self.failover_order):
            raise ValueError(f"failover_order lists a region twice: {self.failover_order}")
        if not self.failover_order:
            raise ValueError("failover_order must name at least one region")
        return self

    @model_validator(mode="after")
    def _region_urls_are_http(self) -> Self:
        for name, url in self.regions.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"region {name!r}: base URL must start with http:// or https://, got {url!r}")
        return self


class AdminSettings(FrozenModel):
    """The admin API (``/admin``): its token, and its own listener apart from the public one."""

    #: Bearer token for /admin; with none set the admin API answers 403 to everyone.
    token: SecretStr | None = None
    #: Address of the admin listener (restart). Loopback by default: reach it on the host,
    #: or in Kubernetes with ``kubectl port-forward``.
    host: str = "127.0.0.1"
    #: Port of the admin listener (restart); 0 takes an ephemeral one (tests). ``null`` serves
    #: /admin on the public port instead, still behind the token: an explicit opt-in.
    port: int | None = Field(default=9080, ge=0, le=65535)


class ReloadSettings(FrozenModel):
    #: Re-read the config file when it changes (SIGHUP always triggers a reload).
    watch: bool = True
    #: How often the file's modification time is checked.
    interval_seconds: float = Field(default=1.0, gt=0, le=3600)


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PydanticCustomError("host_port", "must be host:port, like redis-0.redis:26379")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]


class RedisSentinelSettings(FrozenModel):
    """A primary with replicas, watched by Sentinels that promote a replica when it fails."""

    #: The name the Sentinels monitor the group under (``sentinel monitor <name> …``).
    service_name: str = Field(min_length=1)
    #: ``host:port`` of each Sentinel; any one that answers names the current primary.
    sentinels: list[HostPort] = Field(min_length=1)
    #: The Sentinels' own ACL user and password, when they require one (from the environment:
    #: ``BFF_CACHE__REDIS__SENTINEL__PASSWORD``).
    username: str | None = None
    password: SecretStr | None = None


class RedisClusterSettings(FrozenModel):
    """A Redis Cluster: the client learns every shard from any of these seed nodes."""

    #: ``host:port`` of some nodes of the cluster (one reachable node is enough to start).
    nodes: list[HostPort] = Field(min_length=1)


class RedisSettings(FrozenModel):
    """Where Redis is: exactly one of ``url`` (one node), ``sentinel`` or ``cluster``.

    Credentials come from the environment (``BFF_CACHE__REDIS__USERNAME``,
    ``BFF_CACHE__REDIS__PASSWORD``), never the file; they apply to every data node."""

    #: One node: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` for a socket).
    url: str | None = None
    sentinel: RedisSentinelSettings | None = None
    cluster: RedisClusterSettings | None = None
    #: ACL user and password of the data nodes (they override any in ``url``).
    username: str | None = None
    password: SecretStr | None = None
    #: TLS to the data nodes (and Sentinels) of a Sentinel group or Cluster; a single node
    #: takes TLS from its ``rediss://`` URL.
    tls: bool = False
    #: CA bundle that signed the servers' certificates (the system's when unset).
    tls_ca_file: str | None = None
    #: Database number with a single node or Sentinel (a Cluster has only 0).
    db: int = Field(default=0, ge=0, le=15)
    #: Send reads (cache lookups) to replicas. Off by default: a replica lags its primary,
    #: so a read there may miss an entry just written or see one just invalidated.
    read_from_replicas: bool = False

    @property
    def topology(self) -> Literal["single", "sentinel", "cluster"]:
        return "sentinel" if self.sentinel is not None else "cluster" if self.cluster is not None else "single"

    @model_validator(mode="after")
    def _one_topology(self) -> Self:
        named = [name for name in ("url", "sentinel", "cluster") if getattr(self, name) is not None]
        if len(named) != 1:
            raise _key_error(
                "cache.redis",
                f"name exactly one of url, sentinel or cluster (got {', '.join(named) or 'none'})",
            )
        if self.url is not None and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise _key_error("cache.redis.url", f"must start with redis://, rediss:// or unix://, got {self.url!r}")
        if self.url is not None and self.tls:
            raise _key_error("cache.redis.tls", "a single node takes TLS from its URL: write rediss:// instead")
        if self.url is not None and self.read_from_replicas:
            raise _key_error("cache.redis.read_from_replicas", "a single node has no replicas to read from")
        if self.cluster is not None and self.db:
            raise _key_error("cache.redis.db", "a Redis Cluster has only database 0")
        return self


class CacheSettings(FrozenModel):
    """The response cache. Without Redis it is in-process (the embedded default)."""

    #: One node, ``redis://host:port/db``: the short form of ``redis: {url: …}``; also read
    #: from ``REDIS_URL`` by the ``bff`` command.
    redis_url: str | None = None
    #: Redis: one node, a Sentinel group or a Cluster (``RedisSettings``).
    redis: RedisSettings | None = None
    #: Every key starts with this, so several deployments can share one Redis.
    prefix: str = Field(default="bff", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    #: Time budget of one cache operation; past it the request goes on without the cache.
    op_timeout: float = Field(default=0.1, gt=0, le=5)
    connect_timeout: float = Field(default=0.1, gt=0, le=5)
    pool_size: int = Field(default=64, ge=1, le=10_000)
    #: In-process L1 in front of Redis: entries kept, and at most how long (0 disables).
    l1_entries: int = Field(default=10_000, ge=0)
    l1_ttl: float = Field(default=1.0, ge=0)
    #: The screen cache: bytes of whole rendered screens this process keeps while their
    #: sections are fresh (0 turns it off). In front of Redis a screen lives at most l1_ttl.
    screen_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    #: How long one replica holds the refill lock of a key, and how long others wait on it.
    lock_ttl: float = Field(default=2.0, gt=0, le=60)
    lock_wait: float = Field(default=0.1, ge=0, le=5)
    #: Budget of a background (stale-while-revalidate) refresh.
    refresh_timeout: float = Field(default=2.0, gt=0, le=60)
    #: Entries for the in-process store (no Redis).
    memory_entries: int = Field(default=100_000, ge=1)
    #: HMAC key for cache keys (user ids and parameters never appear raw). Required with Redis,
    #: so every replica computes the same keys; random per process otherwise.
    hmac_key: SecretStr | None = None
    #: AES-256-GCM keys for entries holding PII, by key id, base64 of 32 bytes. The active
    #: one encrypts; all of them decrypt, so keys rotate without a flush. Required with Redis.
    encryption_keys: dict[str, SecretStr] = Field(default_factory=dict)
    active_key_id: str | None = None
    #: The breaker that stops hammering a dead Redis.
    breaker: BreakerPolicy = BreakerPolicy(minimum_calls=20, failure_rate=0.5, open_duration=5.0, half_open_probes=1)

    @model_validator(mode="after")
    def _keys_consistent(self) -> Self:
        if self.active_key_id is not None and self.active_key_id not in self.encryption_keys:
            raise ValueError(
                f"active_key_id {self.active_key_id!r} is not in encryption_keys {sorted(self.encryption_keys)}"
            )
        for kid, key in self.encryption_keys.items():
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 32:
                raise ValueError(f"encryption_keys.{kid} must be base64 of exactly 32 bytes (AES-256)")
        if self.redis_url is not None and self.redis is not None:
            raise _key_error("cache.redis_url", "set either redis_url or redis, not both (redis_url is redis.url)")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"redis_url must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        if self.redis_settings is not None:
            missing = [
                name
                for name, value in (("hmac_key", self.hmac_key), ("active_key_id", self.active_key_id))
                if not value
            ]
            if missing:
                raise ValueError(f"with Redis set, {' and '.join(missing)} must be set too, the same on every replica")
        return self

    @property
    def redis_settings(self) -> RedisSettings | None:
        """Where Redis is, whichever form the file used; ``None``: no Redis (in-process)."""
        if self.redis is not None:
            return self.redis
        return RedisSettings(url=self.redis_url) if self.redis_url is not None else None


class TelemetrySettings(FrozenModel):
    #: Off: no request spans, request metrics or log lines per request and upstream call
    #: (health, /metrics and the live-state gauges stay). For benchmarks and emergencies.
    enabled: bool = True
    #: Share of new traces recorded (a caller's sampled trace is always continued).
    sampling_ratio: float = Field(default=0.05, ge=0, le=1)
    #: OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces; none: not exported.
    otlp_endpoint: str | None = None
    #: Rollout track, reported in bff_build_info so canary and stable can be compared.
    track: Literal["stable", "canary"] = "stable"
    #: ``json`` lines for machines, ``text`` for a terminal.
    log_format: Literal["json", "text"] = "json"
    #: Which upstream attempts get a log line of their own (``logger: bff.upstream``), besides
    #: the one line per request: ``notable`` those that failed (timeout, error, cancelled),
    #: repeated an earlier one (a failover, retry or hedge) or ran at least
    #: ``slow_upstream_call_seconds``; ``all`` every attempt; ``none`` no attempt. Metrics and
    #: spans count every attempt either way. (``true``/``false`` are read as ``all``/``none``.)
    log_upstream_calls: Literal["notable", "all", "none"] = "notable"
    #: An attempt that took at least this long is logged under ``log_upstream_calls: notable``.
    slow_upstream_call_seconds: float = Field(default=0.25, gt=0)
    #: Log lines are written in batches at most this many seconds apart (warnings and
    #: errors at once); 0 writes each line as it comes, at a system call per line.
    log_flush_seconds: float = Field(default=0.2, ge=0, le=5)

    @field_validator("log_upstream_calls", mode="before")
    @classmethod
    def _boolean_upstream_call_logging(cls, value: Any) -> Any:
        """The setting was a boolean once: ``true`` logged every attempt, ``false`` none."""
        if isinstance(value, bool):
            return "all" if value else "none"
        return value


SigningAlgorithm = Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]


class AuthSettings(FrozenModel):
    """Who the caller is. ``jwt``: an OAuth2/OIDC bearer token, verified against the
    identity provider's JWKS (the ``identity`` upstream). ``trusted_header``: the caller's
    ``X-User-Id`` is believed as is, for tests and tools behind a trusted proxy only."""

    mode: Literal["jwt", "trusted_header"] = "jwt"
    issuer: str = "http://127.0.0.1:9190"
    audience: str = "bff"
    #: Asymmetric algorithms only: "none" and HS* are never accepted (no HS/RS confusion).
    algorithms: tuple[SigningAlgorithm, ...] = Field(default=("RS256", "ES256"), min_length=1)
    #: Clock skew tolerated on exp/iat/nbf.
    leeway_seconds: float = Field(default=30, ge=0, le=300)
    #: Re-read the JWKS at most this often when a token names an unknown key id.
    jwks_min_refresh_seconds: float = Field(default=10, ge=0)
    #: And at least this often anyway (key rotation without unknown ids).
    jwks_max_age_seconds: float = Field(default=600, gt=0)


class Rate(FrozenModel):
    """A token bucket: ``per_second`` sustained, ``burst`` at once."""

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimitSettings(FrozenModel):
    """Token buckets in Redis (so a limit holds across replicas), per client (the
    authenticated user, else the IP) and for the whole process group. With no Redis, or
    Redis failing, each process enforces the same buckets on its own (fail open to a
    per-process limit, never closed)."""

    enabled: bool = True
    per_client: Rate = Rate(per_second=20, burst=40)
    total: Rate = Rate(per_second=5000, burst=10000)
    #: Tighter per-client buckets for some requests: "METHOD /path/prefix" → rate.
    routes: dict[str, Rate] = Field(default_factory=lambda: {"POST /v1/orders": Rate(per_second=1, burst=5)})

    @model_validator(mode="after")
    def _route_keys(self) -> Self:
        for key in self.routes:
            method, _, prefix = key.partition(" ")
            if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "*"} or not prefix.startswith("/"):
                raise ValueError(
                    f"route key {key!r} must look like 'POST /v1/orders' (METHOD or *, then a path prefix)"
                )
        return self


class ProcessSettings(FrozenModel):
    """Settings every BFF process has. Processes subclass it to add their own keys."""

    #: Keys (or dotted paths into a section) read once, at start; a reload keeps their
    #: running values and says so. ``admin.token`` reloads. Subclasses add their own.
    RESTART_ONLY: ClassVar[tuple[str, ...]] = (
        "server",
        "http",
        "log_level",
        "cache",
        "telemetry",
        "auth",
        "rate_limit",
        "admin.host",
        "admin.port",
    )

    server: ServerSettings = ServerSettings()
    http: HttpSettings = HttpSettings()
    #: Budget for one inbound request, shared by all its upstream calls.
    deadline_seconds: float = Field(default=2.0, gt=0, le=60)
    upstreams: dict[str, UpstreamSettings] = Field(default_factory=dict)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    admin: AdminSettings = AdminSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    reload: ReloadSettings = ReloadSettings()
    cache: CacheSettings = CacheSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @model_validator(mode="after")
    def _admin_listens_apart(self) -> Self:
        # Requests are told apart by the port they arrived on (shared/listeners.py).
        admin_port, public_port = self.admin.port, self.server.port
        if admin_port and admin_port == public_port:
            raise _key_error(
                "admin.port",
                f"must differ from server.port ({public_port}): the admin API has its own listener; "
                "pick another port, or set admin.port: null to serve /admin on the public port",
            )
        return self


def _key_error(key: str, reason: str) -> PydanticCustomError:
    """An error of a check across keys, blaming ``key`` (a model validator has no location)."""
    return PydanticCustomError("config_key", "{reason}", {"config_key": key, "reason": reason})


SettingsT = TypeVar("SettingsT", bound=ProcessSettings)


def load_settings(
    model: type[SettingsT],
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> SettingsT:
    """Read ``path`` (if any), apply ``BFF_*`` overrides from ``environ``, validate.

    Raises ``ConfigError`` naming each offending key; never returns a half-valid object.
    """
    source = str(path) if path is not None else "defaults"
    data: dict[str, Any] = _read_yaml(path) if path is not None else {}
    overrides = _env_overrides(environ or {})
    if overrides:
        source += " + environment"
        _deep_merge(data, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc)) from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("<file>", f"cannot read: {exc.strerror}")]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<file>"
        raise ConfigError(str(path), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("<root>", f"must be a mapping of keys, got {type(data).__name__}")])
    return data


#: Conventional variables read as config keys (an explicit ``BFF_…__…`` one wins).
ALIASES = {"REDIS_URL": "BFF_CACHE__REDIS_URL", "BFF_TRACK": "BFF_TELEMETRY__TRACK"}
#: ``BFF_`` variables that are not config keys.
NOT_KEYS = frozenset({"BFF_CONFIG", "BFF_TRACK"})


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    environ = dict(environ)
    for alias, key in ALIASES.items():
        if environ.get(alias) and key not in environ:
            environ[key] = environ[alias]
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_KEYS:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(keys):
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = overrides
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return overrides


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False):
        key = error.get("ctx", {}).get("config_key") or ".".join(str(part) for part in error["loc"]) or "<root>"
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown key (check the spelling; see docs/sre-guide.md for every key)"
        elif "input" in error and not isinstance(error["input"], dict | list):
            reason += f" (got {error['input']!r})"
        problems.append((key, reason))
    return problems


__all__ = [
    "ENV_PREFIX",
    "AdminSettings",
    "AuthSettings",
    "CacheSettings",
    "HttpSettings",
    "ProcessSettings",
    "Rate",
    "RateLimitSettings",
    "RedisClusterSettings",
    "RedisSentinelSettings",
    "RedisSettings",
    "ReloadSettings",
    "ServerSettings",
    "TelemetrySettings",
    "UpstreamSettings",
    "load_settings",
]
