from pathlib import Path

import pytest

from bff_mobile.settings import MobileSettings
from bff_web.settings import WebSettings
from shared import ConfigError, ProcessSettings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bff.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_documented_defaults() -> None:
    settings = load_settings(ProcessSettings)
    assert settings.server.port == 8080
    assert settings.deadline_seconds == 2.0
    assert settings.http.transport == "aiohttp"


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9000\ndeadline_seconds: 1.5\n")
    settings = load_settings(ProcessSettings, path)
    assert settings.server.port == 9000
    assert settings.deadline_seconds == 1.5


def test_environment_overrides_file_with_nested_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9000\n")
    settings = load_settings(ProcessSettings, path, {"BFF_SERVER__PORT": "9100", "OTHER": "x"})
    assert settings.server.port == 9100


def test_environment_can_override_an_upstream_policy() -> None:
    environ = {"BFF_UPSTREAMS__CATALOG__POLICY__ATTEMPT_TIMEOUT": "0.4"}
    settings = load_settings(ProcessSettings, None, environ)
    policy = settings.upstreams["catalog"].policy
    assert policy is not None
    assert policy.attempt_timeout == 0.4
    assert policy.model_fields_set == {"attempt_timeout"}


def test_unknown_key_is_refused_by_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  prot: 9000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    assert caught.value.problems[0][0] == "server.prot"
    assert "unknown key" in caught.value.problems[0][1]
    assert "server.prot" in str(caught.value)


def test_negative_timeout_is_refused_naming_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  catalog:\n    policy:\n      attempt_timeout: -1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    key, reason = caught.value.problems[0]
    assert key == "upstreams.catalog.policy.attempt_timeout"
    assert "greater than 0" in reason
    assert "-1" in reason


def test_failover_order_naming_an_unknown_region_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "upstreams:\n  catalog:\n    regions:\n      a: http://127.0.0.1:1\n    failover_order: [a, mars]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    assert caught.value.problems[0][0] == "upstreams.catalog"
    assert "mars" in caught.value.problems[0][1]


def test_region_url_must_be_http(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  catalog:\n    regions:\n      a: ftp://x\n")
    with pytest.raises(ConfigError, match="http://"):
        load_settings(ProcessSettings, path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: [9000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    assert caught.value.problems[0][0].startswith("line ")


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(ProcessSettings, write(tmp_path, "- a\n- b\n"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(ProcessSettings, tmp_path / "absent.yaml")


def test_connect_timeout_above_attempt_timeout_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  catalog:\n    policy:\n      connect_timeout: 2\n      attempt_timeout: 1\n")
    with pytest.raises(ConfigError, match="connect_timeout"):
        load_settings(ProcessSettings, path)


def test_the_admin_api_listens_apart_on_loopback_by_default() -> None:
    mobile, web = load_settings(MobileSettings).admin, load_settings(WebSettings).admin
    assert (mobile.host, mobile.port) == ("127.0.0.1", 9080)
    assert (web.host, web.port) == ("127.0.0.1", 9081)


def test_setting_only_the_admin_token_keeps_the_process_admin_port() -> None:
    assert load_settings(WebSettings, None, {"BFF_ADMIN__TOKEN": "t"}).admin.port == 9081


def test_an_admin_port_equal_to_the_public_port_is_refused_naming_admin_port(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9000\nadmin:\n  port: 9000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    ((key, reason),) = caught.value.problems
    assert key == "admin.port"
    assert "must differ from server.port (9000)" in reason
    assert "admin.port: null" in reason


@pytest.mark.parametrize(("server_port", "admin_port"), [(0, 0), (8080, None)])
def test_ephemeral_ports_and_admin_on_the_public_port_are_allowed(server_port: int, admin_port: int | None) -> None:
    data = {"server": {"port": server_port}, "admin": {"port": admin_port}}
    assert ProcessSettings.model_validate(data).admin.port == admin_port


def test_conventional_variables_are_read_as_their_keys() -> None:
    settings = load_settings(
        ProcessSettings, None, {"BFF_TRACK": "canary", "REDIS_URL": "redis://127.0.0.1:6379/3"} | KEYS
    )
    assert settings.telemetry.track == "canary"
    assert settings.cache.redis_url == "redis://127.0.0.1:6379/3"


def test_an_explicit_key_wins_over_its_conventional_alias() -> None:
    environ = {"BFF_TRACK": "canary", "BFF_TELEMETRY__TRACK": "stable"}
    assert load_settings(ProcessSettings, None, environ).telemetry.track == "stable"


KEYS = {
    "BFF_CACHE__HMAC_KEY": "k",
    "BFF_CACHE__ENCRYPTION_KEYS__K1": "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=",
    "BFF_CACHE__ACTIVE_KEY_ID": "k1",
}


def test_the_removed_httpx_transport_is_refused_naming_key_allowed_value_and_why(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  transport: httpx\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, path)
    key, reason = caught.value.problems[0]
    assert key == "http.transport"
    assert "no longer a shipped transport" in reason
    assert "'aiohttp'" in reason
    assert "bench/RESULTS.md" in reason


def test_an_unknown_transport_is_refused_naming_the_allowed_value() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(ProcessSettings, None, {"BFF_HTTP__TRANSPORT": "requests"})
    key, reason = caught.value.problems[0]
    assert key == "http.transport"
    assert "'aiohttp'" in reason
