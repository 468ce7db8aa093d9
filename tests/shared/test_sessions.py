"""The session store's own rules, on the in-process store with an injected clock."""

from __future__ import annotations

import re

import pytest

from shared.auth.sessions import LoginState, SessionStore, digest
from shared.cache.keys import CacheKeys
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.errors import UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def store(clock: Clock, **limits: float) -> SessionStore:
    sessions = SessionStore(
        idle_seconds=limits.get("idle", 1800), max_age_seconds=limits.get("max_age", 3600), timeout=1, clock=clock
    )
    sessions.bind(MemoryStore(1000), CacheKeys("t", b"k" * 32), Sealer.ephemeral())
    return sessions


async def test_a_session_ends_at_its_max_age_and_not_a_moment_before() -> None:
    clock = Clock()
    sessions = store(clock, max_age=50)
    session_id, _ = await sessions.create(7, "token", token_expires_in=3600)
    clock.now += 49.9
    assert (await sessions.get(session_id)) is not None
    clock.now += 0.1
    assert await sessions.get(session_id) is None


async def test_a_session_ends_when_its_access_token_does() -> None:
    clock = Clock()
    sessions = store(clock, max_age=3600)
    session_id, session = await sessions.create(7, "token", token_expires_in=60)
    assert session.expires_at == clock.now + 60
    clock.now += 60
    assert await sessions.get(session_id) is None


async def test_the_access_token_comes_back_only_through_the_session() -> None:
    sessions = store(Clock())
    session_id, _ = await sessions.create(7, "secret-token", token_expires_in=60)
    found = await sessions.get(session_id)
    assert found is not None and (found.user_id, found.access_token) == (7, "secret-token")
    assert await sessions.get("a-guessed-id") is None


async def test_a_login_state_is_good_once() -> None:
    sessions = store(Clock())
    started = LoginState("verifier", "/orders", browser=digest("login-cookie"))
    await sessions.start_login("state-1", started, ttl=60)
    assert await sessions.finish_login("state-1") == started
    assert await sessions.finish_login("state-1") is None


def test_a_login_finishes_only_with_the_cookie_that_started_it() -> None:
    started = LoginState("verifier", "/orders", browser=digest("login-cookie"))
    assert started.started_in("login-cookie")
    assert not started.started_in("another-cookie")
    assert not started.started_in(None)


async def test_a_failing_store_is_an_unavailable_dependency_not_a_logout() -> None:
    class Broken(MemoryStore):
        async def get(self, key: str) -> bytes | None:
            raise ConnectionError("redis is down")

    sessions = SessionStore(idle_seconds=60, max_age_seconds=60, timeout=1)
    sessions.bind(Broken(10), CacheKeys("t", b"k" * 32), Sealer.ephemeral())
    with pytest.raises(UpstreamUnavailable) as caught:
        await sessions.get("any")
    assert caught.value.status == 503


async def test_a_session_id_carries_its_users_slot_and_its_keys_share_it() -> None:
    sessions = store(Clock())
    first, _ = await sessions.create(7, "token", token_expires_in=60)
    second, _ = await sessions.create(7, "token", token_expires_in=60)
    other, _ = await sessions.create(8, "token", token_expires_in=60)
    slot = first.partition(".")[0]
    assert second.partition(".")[0] == slot != other.partition(".")[0]
    assert re.fullmatch(r"[0-9a-f]{16}", slot)  # an HMAC of the user id, not the id
    assert sessions._key(first).startswith(f"t:session:{{{slot}}}:")  # the index's hash tag too


async def test_logout_all_also_ends_sessions_made_before_user_slots() -> None:
    sessions = store(Clock())
    bound_store, keys, _ = sessions._bound()
    legacy_key = sessions._key("an-old-cookie-without-a-slot")
    await bound_store.set(legacy_key, b"{}", 60, [keys.tag("sessions-of-user:7")])
    await sessions.create(7, "token", token_expires_in=60)
    assert await sessions.delete_all(7) == 2
