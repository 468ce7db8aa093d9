import base64
import os

import pytest

from shared.cache.entry import Entry, EntryError
from shared.cache.keys import CacheKeys
from shared.cache.sealing import Sealer, SealError

KEYS = CacheKeys("bff", b"k" * 32)


def test_keys_carry_the_operation_and_schema_but_no_raw_parameters_or_user() -> None:
    key = KEYS.entry("accounts.get_user", "s1234", {"path": {"user_id": 424242}}, user="424242")
    assert key.startswith("bff:accounts.get_user:s1234:")
    assert "424242" not in key


def test_same_inputs_give_the_same_key_and_other_users_another() -> None:
    params = {"path": {"user_id": 7}, "query": {"limit": 3}}
    assert KEYS.entry("orders.list", "s1", params, "7") == KEYS.entry("orders.list", "s1", dict(params), "7")
    assert KEYS.entry("orders.list", "s1", params, "7") != KEYS.entry("orders.list", "s1", params, "8")


def test_keys_depend_on_the_hmac_secret() -> None:
    other = CacheKeys("bff", b"x" * 32)
    assert KEYS.entry("a.b", "s", {}, None) != other.entry("a.b", "s", {}, None)
    assert "product" not in KEYS.tag("product:42")


def test_sealed_value_opens_only_under_its_own_key() -> None:
    sealer = Sealer.ephemeral()
    sealed = sealer.seal(b"anna@example.com", b"bff:accounts.get_user:s:aaa")
    assert b"anna" not in sealed
    assert sealer.open(sealed, b"bff:accounts.get_user:s:aaa") == b"anna@example.com"
    with pytest.raises(SealError):
        sealer.open(sealed, b"bff:accounts.get_user:s:bbb")  # moved to another user's key


def test_rotated_keys_still_open_values_sealed_with_the_old_one() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = Sealer({"2025": old}, "2025")
    sealed = before.seal(b"secret", b"k")
    after = Sealer({"2025": old, "2026": new}, "2026")
    assert after.open(sealed, b"k") == b"secret"
    assert after.seal(b"secret", b"k")[1:5] == b"2026"
    with pytest.raises(SealError):
        Sealer({"2026": new}, "2026").open(sealed, b"k")


def test_tampered_values_do_not_open() -> None:
    sealer = Sealer.ephemeral()
    sealed = bytearray(sealer.seal(b"secret", b"k"))
    sealed[-1] ^= 1
    with pytest.raises(SealError):
        sealer.open(bytes(sealed), b"k")


def test_entry_round_trips_and_knows_its_freshness() -> None:
    entry = Entry(stored_at=100.0, ttl=10, stale_ttl=50, body=b"{}")
    decoded = Entry.decode(entry.encode())
    assert decoded == entry
    assert decoded.fresh(109.9)
    assert not decoded.fresh(110.0)
    assert decoded.usable(159.9)
    assert not decoded.usable(160.0)


def test_foreign_bytes_are_not_an_entry() -> None:
    with pytest.raises(EntryError):
        Entry.decode(b"hello world, not ours at all")
    with pytest.raises(EntryError):
        Entry.decode(base64.b64decode("AA=="))
