"""``cache.redis``: one node, a Sentinel group or a Cluster; each error names its key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import ConfigError, ProcessSettings, load_settings
from shared.cache.connection import connect
from shared.settings import RedisSettings
from tests.support import start_redis, stop_redis

KEYS = {
    "BFF_CACHE__HMAC_KEY": "k",
    "BFF_CACHE__ACTIVE_KEY_ID": "k1",
    "BFF_CACHE__ENCRYPTION_KEYS__K1": "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=",
}


def problems(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    path = tmp_path / "bff.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path, {**KEYS, **(environ or {})})
    return caught.value.problems


def loaded(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> RedisSettings:
    path = tmp_path / "bff.yaml"
    path.write_text(text)
    redis = load_settings(ProcessSettings, path, {**KEYS, **(environ or {})}).cache.redis_settings
    assert redis is not None
    return redis


def test_no_redis_is_the_embedded_default() -> None:
    assert load_settings(ProcessSettings).cache.redis_settings is None


def test_redis_url_still_names_one_node(tmp_path: Path) -> None:
    redis = loaded("cache:\n  redis_url: redis://cache:6379/2\n", tmp_path)
    assert (redis.topology, redis.url) == ("single", "redis://cache:6379/2")


def test_the_redis_url_variable_still_names_one_node() -> None:
    settings = load_settings(ProcessSettings, None, {**KEYS, "REDIS_URL": "rediss://cache:6380/0"})
    assert settings.cache.redis_settings == RedisSettings(url="rediss://cache:6380/0")


def test_a_sentinel_group_with_its_password_from_the_environment(tmp_path: Path) -> None:
    text = "cache:\n  redis:\n    sentinel:\n      service_name: bff\n      sentinels: [s0:26379, s1:26379, s2:26379]\n"
    environ = {
        "BFF_CACHE__REDIS__USERNAME": "bff",
        "BFF_CACHE__REDIS__PASSWORD": "data-secret",
        "BFF_CACHE__REDIS__SENTINEL__PASSWORD": "sentinel-secret",
    }
    redis = loaded(text, tmp_path, environ)
    assert redis.topology == "sentinel"
    assert redis.sentinel is not None and redis.sentinel.sentinels == ["s0:26379", "s1:26379", "s2:26379"]
    assert redis.password is not None and redis.password.get_secret_value() == "data-secret"
    assert redis.sentinel.password is not None and redis.sentinel.password.get_secret_value() == "sentinel-secret"
    assert redis.read_from_replicas is False


def test_a_cluster_with_tls(tmp_path: Path) -> None:
    redis = loaded("cache:\n  redis:\n    cluster: {nodes: ['c0:6379', 'c1:6379']}\n    tls: true\n", tmp_path)
    assert (redis.topology, redis.tls) == ("cluster", True)


def test_redis_without_the_shared_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bff.yaml"
    path.write_text("cache:\n  redis:\n    cluster: {nodes: ['c0:6379']}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path, {})
    [(key, reason)] = caught.value.problems
    assert key == "cache" and "hmac_key and active_key_id must be set" in reason


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("cache:\n  redis: {}\n", "cache.redis", "exactly one of url, sentinel or cluster (got none)"),
        (
            "cache:\n  redis:\n    url: redis://a:1/0\n    cluster: {nodes: ['a:1']}\n",
            "cache.redis",
            "(got url, cluster)",
        ),
        ("cache:\n  redis:\n    url: http://a:1\n", "cache.redis.url", "must start with redis://"),
        ("cache:\n  redis:\n    url: redis://a:1\n    tls: true\n", "cache.redis.tls", "write rediss://"),
        (
            "cache:\n  redis:\n    url: redis://a:1\n    read_from_replicas: true\n",
            "cache.redis.read_from_replicas",
            "no replicas",
        ),
        ("cache:\n  redis:\n    cluster: {nodes: ['a:1']}\n    db: 3\n", "cache.redis.db", "only database 0"),
        ("cache:\n  redis:\n    cluster: {nodes: []}\n", "cache.redis.cluster.nodes", "at least 1 item"),
        ("cache:\n  redis:\n    cluster: {nodes: ['a:1', 'b']}\n", "cache.redis.cluster.nodes.1", "host:port"),
        (
            "cache:\n  redis:\n    sentinel: {service_name: bff, sentinels: ['s0:99999']}\n",
            "cache.redis.sentinel.sentinels.0",
            "host:port",
        ),
        ("cache:\n  redis:\n    sentinel: {sentinels: ['s0:26379']}\n", "cache.redis.sentinel.service_name", ""),
        (
            "cache:\n  redis:\n    sentinel: {service_name: b, sentinels: [s:1], hosts: x}\n",
            "cache.redis.sentinel.hosts",
            "",
        ),
        (
            "cache:\n  redis_url: redis://a:1/0\n  redis:\n    url: redis://b:1/0\n",
            "cache.redis_url",
            "either redis_url or redis",
        ),
    ],
)
def test_each_invalid_form_names_its_key(text: str, key: str, reason: str, tmp_path: Path) -> None:
    [(found_key, found_reason)] = problems(text, tmp_path)
    assert found_key == key
    assert reason in found_reason


def test_config_check_names_the_key_in_error(tmp_path: Path) -> None:
    path = tmp_path / "bff.yaml"
    path.write_text("cache:\n  redis:\n    sentinel: {service_name: bff, sentinels: ['s0']}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BFF_")}
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "config", "check", str(path), "--process", "mobile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode != 0
    assert "cache.redis.sentinel.sentinels.0: must be host:port" in result.stderr


@pytest.mark.parametrize(
    ("redis", "topology"),
    [
        (RedisSettings(url="redis://127.0.0.1:1/0"), "single"),
        (RedisSettings.model_validate({"sentinel": {"service_name": "b", "sentinels": ["127.0.0.1:1"]}}), "sentinel"),
        (RedisSettings.model_validate({"cluster": {"nodes": ["127.0.0.1:1"]}}), "cluster"),
    ],
)
async def test_each_form_builds_its_redis_py_client_without_connecting(redis: RedisSettings, topology: str) -> None:
    connection = connect(redis, pool_size=4, op_timeout=0.1, connect_timeout=0.1)
    try:
        assert connection.topology == topology
        assert connection.reader is connection.client  # read_from_replicas is off by default
    finally:
        await connection.aclose()


async def test_read_from_replicas_sends_lookups_to_a_replica_of_a_sentinel_group() -> None:
    redis = RedisSettings.model_validate(
        {"sentinel": {"service_name": "b", "sentinels": ["127.0.0.1:1"]}, "read_from_replicas": True}
    )
    connection = connect(redis, pool_size=4, op_timeout=0.1, connect_timeout=0.1)
    try:
        assert connection.reader is not connection.client
    finally:
        await connection.aclose()


async def test_the_acl_user_and_password_from_the_environment_win_over_the_url() -> None:
    process, port = start_redis("--user", "bff", "on", ">from-the-secret", "~*", "&*", "+@all")  # beside default
    try:
        environ = {**KEYS, "BFF_CACHE__REDIS__USERNAME": "bff", "BFF_CACHE__REDIS__PASSWORD": "from-the-secret"}
        settings = load_settings(
            ProcessSettings, None, environ | {"BFF_CACHE__REDIS__URL": f"redis://old:stale@127.0.0.1:{port}/0"}
        )
        redis = settings.cache.redis_settings
        assert redis is not None
        connection = connect(redis, pool_size=2, op_timeout=1, connect_timeout=1)
        try:
            assert await connection.client.ping()
            assert await connection.client.acl_whoami() == "bff"
        finally:
            await connection.aclose()
    finally:
        stop_redis(process)
