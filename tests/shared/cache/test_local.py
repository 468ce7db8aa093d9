from shared.cache.entry import Entry
from shared.cache.local import LocalCache
from tests.shared.resilience.clock import ManualClock

ENTRY = Entry(0, 10, 0, b"{}")


def test_entries_expire_after_the_smaller_of_their_lifetime_and_max_age() -> None:
    clock = ManualClock()
    local = LocalCache(10, max_age=1.0, clock=clock)
    local.put("a", ENTRY, lifetime=5, tags=())
    local.put("b", ENTRY, lifetime=0.5, tags=())
    clock.advance(0.6)
    assert local.get("a") is not None
    assert local.get("b") is None
    clock.advance(0.4)
    assert local.get("a") is None


def test_least_recently_used_entry_is_evicted_first() -> None:
    local = LocalCache(2, max_age=10, clock=ManualClock())
    local.put("a", ENTRY, 5, ())
    local.put("b", ENTRY, 5, ())
    local.get("a")
    local.put("c", ENTRY, 5, ())
    assert local.get("b") is None
    assert local.get("a") is not None


def test_drop_by_tag_and_by_prefix() -> None:
    local = LocalCache(10, max_age=10, clock=ManualClock())
    local.put("bff:catalog.get_product:1", ENTRY, 5, ("t-product-1",))
    local.put("bff:catalog.get_product:2", ENTRY, 5, ("t-product-2",))
    local.put("bff:accounts.get_user:1", ENTRY, 5, ())
    local.drop_tag("t-product-1")
    assert local.get("bff:catalog.get_product:1") is None
    local.drop_prefix("bff:catalog.")
    assert local.get("bff:catalog.get_product:2") is None
    assert local.get("bff:accounts.get_user:1") is not None
