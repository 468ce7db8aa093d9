"""``bff pii scan`` names personal data in clear, in a real Redis and in log files, and
nothing else: not sealed cache entries, not masked values, not a product's name."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from redis.cluster import RedisCluster

from shared.cache.entry import Entry
from shared.cache.sealing import Sealer
from shared.cli import main
from shared.pii import mask_email, mask_phone, mask_text
from shared.pii_scan import EXIT_CANNOT_SCAN, EXIT_CLEAN, EXIT_FOUND, Detector
from tests.support import RedisTopology, free_port, start_redis
from upstreams.accounts.data import user
from upstreams.catalog.data import product
from upstreams.registry import registered_upstreams

REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_up(), reason="no Redis at 127.0.0.1:6379")


def detector() -> Detector:
    return Detector(op.response for spec in registered_upstreams() for op in spec.operations)


def profile(user_id: int) -> dict[str, object]:
    data: dict[str, object] = orjson.loads(orjson.dumps(user(user_id)))
    return data


def entry(body: object, sealer: Sealer | None = None, key: str = "") -> bytes:
    raw = orjson.dumps(body)
    if sealer is None:
        return Entry(time.time(), 60, 60, raw).encode()
    return Entry(time.time(), 60, 60, sealer.seal(raw, key.encode()), sealed=True).encode()


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["pii", "scan", *args])
    return code, capsys.readouterr().out.splitlines()


# --- what counts -----------------------------------------------------------------------


def test_an_upstream_answer_with_personal_data_is_found_field_by_field() -> None:
    found = {field for field, _ in detector().text(orjson.dumps(profile(3)).decode())}
    assert {"User.name", "User.email", "User.phone", "User.birth_date", "Address.street"} <= found


def test_a_client_shaped_profile_in_camel_case_is_found() -> None:
    data = profile(4)
    address = data["address"]
    assert isinstance(address, dict)
    camel = {"id": 4, "name": data["name"], "homeRegion": "eu", "address": {"postalCode": address["postal_code"]}}
    assert ("Address.postal_code", "JSON member") in detector().text(orjson.dumps(camel).decode())


def test_masked_and_redacted_values_are_not_findings() -> None:
    data = profile(5)
    masked = {
        **data,
        "name": mask_text(str(data["name"])),
        "email": mask_email(str(data["email"])),
        "phone": mask_phone(str(data["phone"])),
        "birth_date": None,
        "address": {"street": "[redacted]", "city": "x", "postal_code": "", "country": "NL"},
    }
    assert detector().text(orjson.dumps(masked).decode()) == []
    assert detector().text('{"msg":"no orders for [redacted]","email":"[redacted]","note":"[redacted-email]"}') == []


def test_a_product_name_is_not_personal_data() -> None:
    assert detector().text(orjson.dumps(product(42)).decode()) == []


def test_free_text_is_searched_by_assignment_and_by_shape() -> None:
    found = detector().text("answer User(id=1, street='Hauptstraße 5') from +49 151 2345 6789, a.b@example.com")
    assert found == [("Address.street", "assigned in text"), ("e-mail", "shape"), ("phone", "shape")]


# --- log files -------------------------------------------------------------------------


def test_a_log_file_with_one_clear_line_is_named_by_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "mobile.log"
    log.write_text(
        '{"ts":"2026-01-01T00:00:00.000Z","level":"info","msg":"request","route":"/v1/me","status":200}\n'
        '{"ts":"2026-01-01T00:00:00.001Z","level":"warning","msg":"no orders for [redacted]","street":"[redacted]"}\n'
        '{"ts":"2026-01-01T00:00:00.002Z","level":"warning","msg":"answer User(id=1, street=\'Hauptstraße 5\')"}\n'
    )
    code, out = scan(capsys, "--log", str(log))
    assert code == EXIT_FOUND
    assert out[:-1] == [f"{log}:3: Address.street in clear (assigned in text)"]
    assert out[-1].startswith("pii scan: 1 finding(s)") and "3 lines in 1 log file(s)" in out[-1]


def test_a_clean_log_file_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    log.write_text('{"msg":"request","route":"/v1/home","status":200}\n')
    assert scan(capsys, "--log", str(log)) == (
        EXIT_CLEAN,
        ["pii scan: clean; scanned 0 keys on 0 Redis node(s) (0 sealed, 0 binary, not read), 1 lines in 1 log file(s)"],
    )


def test_an_unreadable_log_file_cannot_be_scanned(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["pii", "scan", "--log", str(tmp_path / "missing.log")]) == EXIT_CANNOT_SCAN
    assert "cannot read a log file" in capsys.readouterr().err


# --- a real Redis ----------------------------------------------------------------------


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own in db 11, deleted afterwards."""
    name = f"pii-scan-test:{uuid.uuid4().hex[:8]}:"
    yield name
    store = redis.Redis.from_url(REDIS_URL)
    for key in store.scan_iter(match=f"{name}*"):
        store.delete(key)
    store.close()


@needs_redis
def test_plaintext_personal_data_in_redis_is_named_and_sealed_entries_are_not(
    capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    store = redis.Redis.from_url(REDIS_URL)
    sealer = Sealer({"k1": b"k" * 32}, "k1")
    sealed_key = f"{prefix}accounts.get_user:s1:sealed"
    store.set(f"{prefix}accounts.get_user:s1:plain", entry(profile(6)))
    store.set(sealed_key, entry(profile(7), sealer, sealed_key))
    store.set(f"{prefix}catalog.get_product:s1:p", entry(product(3)))
    store.hset(f"{prefix}session:1", mapping={"email": str(profile(8)["email"]), "user_id": "8"})
    store.set(f"{prefix}session:2", sealer.seal(orjson.dumps(profile(9)), b"session"))
    code, out = scan(capsys, "--redis", REDIS_URL, "--match", f"{prefix}*")
    assert code == EXIT_FOUND
    where = "redis://127.0.0.1:6379/11 key "
    findings = out[:-1]
    assert f"{where}'{prefix}accounts.get_user:s1:plain': User.email in clear (JSON member)" in findings
    assert f"{where}'{prefix}session:1' field 'email': User.email in clear (hash field)" in findings
    assert not [line for line in findings if "sealed" in line or "catalog" in line or "session:2" in line]
    assert "5 keys on 1 Redis node(s) (1 sealed, 1 binary, not read)" in out[-1]

    store.delete(f"{prefix}accounts.get_user:s1:plain", f"{prefix}session:1")
    code, out = scan(capsys, "--redis", REDIS_URL, "--match", f"{prefix}*")
    assert (code, out[0][:16]) == (EXIT_CLEAN, "pii scan: clean;")
    store.close()


def test_an_unreachable_redis_cannot_be_scanned(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "scan", "--redis", f"redis://127.0.0.1:{free_port()}/0"]) == EXIT_CANNOT_SCAN
    assert "cannot scan Redis" in capsys.readouterr().err


# --- several nodes -----------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[int]]:
    """Two standalone servers and a one-node Cluster on free loopback ports: their ports."""
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for name in ("a", "b", "cluster"):
            directory = tmp_path / name
            directory.mkdir()
            extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf")]
            clustered = name == "cluster"  # its own bus port: not port + 10000, which may be past 65535
            started.append(start_redis(*(extra if clustered else []), directory=directory, cluster_bus=clustered))
        cluster = redis.Redis(port=started[2][1], socket_timeout=2)
        cluster.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)  # type: ignore[no-untyped-call]
        for _ in range(200):
            if b"cluster_state:ok" in cluster.execute_command("CLUSTER", "INFO"):  # type: ignore[no-untyped-call]
                break
            time.sleep(0.05)
        else:
            pytest.fail("the one-node cluster never reached cluster_state:ok")
        cluster.close()
        yield [port for _, port in started]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
def test_every_node_is_scanned_whether_named_one_by_one_or_found_through_the_cluster(
    capsys: pytest.CaptureFixture[str], own_redis: list[int]
) -> None:
    a, b, cluster_port = own_redis
    sealer = Sealer({"k1": b"k" * 32}, "k1")
    redis.Redis(port=a).set("bff:{u1}:accounts.get_user", entry(profile(10), sealer, "x"))
    redis.Redis(port=b).set("bff:{u2}:accounts.get_user", entry(profile(11)))
    cluster = RedisCluster(host="127.0.0.1", port=cluster_port, socket_timeout=2)
    cluster.set("bff:{u3}:accounts.get_user", entry(profile(12)))
    cluster.close()

    code, out = scan(capsys, "--redis", f"redis://127.0.0.1:{a}/0", "--redis", f"redis://127.0.0.1:{b}/0")
    assert code == EXIT_FOUND
    assert {line.split(": ", 1)[0] for line in out[:-1]} == {
        f"redis://127.0.0.1:{b}/0 key 'bff:{{u2}}:accounts.get_user'"
    }
    assert "2 keys on 2 Redis node(s) (1 sealed" in out[-1]

    code, out = scan(capsys, "--redis", f"redis://127.0.0.1:{cluster_port}/0")
    assert code == EXIT_FOUND
    assert {line.split(": ", 1)[0] for line in out[:-1]} == {
        f"redis://127.0.0.1:{cluster_port}/0 key 'bff:{{u3}}:accounts.get_user'"
    }


def test_the_scan_reads_every_node_of_each_topology_a_bff_runs_on(
    capsys: pytest.CaptureFixture[str], redis_topology: RedisTopology
) -> None:
    prefix = f"pii-topology:{uuid.uuid4().hex[:8]}"
    sealer = Sealer({"k1": b"k" * 32}, "k1")
    writer: redis.Redis | RedisCluster = (
        redis_topology.cluster_client()
        if redis_topology.name == "cluster"
        else redis.Redis(port=redis_topology.primary_port(), socket_timeout=1)
    )
    try:
        for user_id in range(1, 31):  # entry keys hash by their digest: spread over every shard
            writer.set(f"{prefix}:accounts.get_user:s1:{{{user_id}}}", entry(profile(user_id)))
            key = f"{prefix}:accounts.get_user:s1:{{sealed{user_id}}}"
            writer.set(key, entry(profile(user_id), sealer, key))
        # One node's URL: a Cluster's stands for all its primaries; a Sentinel group's primary holds all.
        code, out = scan(
            capsys, "--redis", f"redis://127.0.0.1:{redis_topology.primary_port()}/0", "--match", f"{prefix}*"
        )
    finally:
        redis_topology.forget(prefix)
        writer.close()
    nodes = 3 if redis_topology.name == "cluster" else 1
    assert code == EXIT_FOUND
    assert len([line for line in out if "User.email in clear" in line]) == 30
    assert not [line for line in out[:-1] if ":{sealed" in line]
    assert f"60 keys on {nodes} Redis node(s) (30 sealed" in out[-1]
