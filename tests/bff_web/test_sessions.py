"""Browser sessions in bff_web: sign-in through the stand-in identity provider (code flow
with PKCE), the session cookie, CSRF on state-changing requests, logout everywhere.

Two bff_web instances share the machine's Redis (db 13, a key prefix of this test's own,
removed afterwards), as two replicas would."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis

from tests.support import RedisTopology, Standins, serve_web, web_settings

REDIS_URL = "redis://127.0.0.1:6379/13"
COOKIE = "__Host-bff_session"
LOGIN_COOKIE = f"{COOKIE}-login"
#: bff_web's state-changing requests are GraphQL POSTs: a cookie alone must not run them.
QUERY = {"query": "{ viewer { profile { name } } }"}


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"bffsess{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{name}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def _config(upstreams: Standins, prefix: str, redis: dict[str, Any] | None = None, **sessions: Any) -> Any:
    cache = {
        **({"redis": redis} if redis is not None else {"redis_url": REDIS_URL}),
        "prefix": prefix,
        "hmac_key": "test-hmac-key-shared-by-replicas",
        "encryption_keys": {"k1": base64.b64encode(b"1" * 32).decode()},
        "active_key_id": "k1",
    }
    return web_settings(
        upstreams,
        cache=cache,
        sessions={"authorize_url": upstreams.url("identity") + "/authorize", **sessions},
    )


@pytest.fixture
def replicas(upstreams: Standins, prefix: str) -> Iterator[tuple[str, str]]:
    """Two bff_web instances sharing one Redis."""
    settings = _config(upstreams, prefix)
    with ExitStack() as stack:
        first = stack.enter_context(serve_web(settings))
        second = stack.enter_context(serve_web(settings))
        yield first, second


@pytest.fixture
def replicas_on_each_topology(
    upstreams: Standins, redis_topology: RedisTopology, prefix: str
) -> Iterator[tuple[str, str]]:
    """Two bff_web instances sharing one node, a Sentinel group or a Cluster."""
    settings = _config(upstreams, prefix, redis_topology.cache)
    with ExitStack() as stack:
        first = stack.enter_context(serve_web(settings))
        second = stack.enter_context(serve_web(settings))
        yield first, second
    redis_topology.forget(prefix)


def set_cookie(answer: httpx.Response, name: str) -> str | None:
    """The ``Set-Cookie`` line of ``answer`` for cookie ``name``."""
    return next((line for line in answer.headers.get_list("set-cookie") if line.startswith(f"{name}=")), None)


def cookie_set(answer: httpx.Response, name: str) -> str:
    """The value ``answer`` gives cookie ``name`` ("" when it sets none)."""
    line = set_cookie(answer, name)
    if line is None:
        return ""
    cookie = SimpleCookie()
    cookie.load(line)
    return cookie[name].value


def cookies(**values: str) -> dict[str, str]:
    """A ``Cookie`` header, sent by hand: httpx keeps Secure cookies off plain http, as it should."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in values.items() if value)}


async def start_sign_in(browser: httpx.AsyncClient, base_url: str, user: int, **params: Any) -> dict[str, str]:
    """/auth/login, then the identity provider: the callback's parameters, and the login cookie."""
    started = await browser.get(f"{base_url}/auth/login", params={"login_hint": user, **params})
    assert started.status_code == 302, started.text
    approved = await browser.get(started.headers["location"])  # the identity provider
    assert approved.status_code == 302, approved.text
    answer = parse_qs(urlsplit(approved.headers["location"]).query)
    return {"code": answer["code"][0], "state": answer["state"][0], "login": cookie_set(started, LOGIN_COOKIE)}


async def sign_in(
    base_url: str, user: int, return_to: str = "/orders", session: str = ""
) -> tuple[str, httpx.Response]:
    """Follow the sign-in as a browser would (holding ``session`` already, if given);
    returns the new session id and the callback's answer."""
    async with httpx.AsyncClient(timeout=10) as browser:
        flow = await start_sign_in(browser, base_url, user, return_to=return_to)
        done = await browser.get(
            f"{base_url}/auth/callback",
            params={"code": flow["code"], "state": flow["state"]},
            headers=cookies(**{COOKIE: session, LOGIN_COOKIE: flow["login"]}),
        )
    return cookie_set(done, COOKIE), done


def as_browser(base_url: str, session_id: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=10, headers={"Cookie": f"{COOKIE}={session_id}"})


async def csrf_token(client: httpx.AsyncClient) -> str:
    answer = await client.get("/auth/session")
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token


async def test_sign_in_sets_a_host_only_httponly_secure_samesite_cookie(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    session_id, done = await sign_in(first, 7)
    assert done.status_code == 303
    assert done.headers["location"] == "/orders"
    assert done.headers["cache-control"] == "no-store"
    attributes = [part.strip().lower() for part in (set_cookie(done, COOKIE) or "").split(";")]
    assert attributes[0] == f"{COOKIE.lower()}={session_id.lower()}"
    assert {"httponly", "secure", "path=/", "samesite=lax"} <= set(attributes)
    assert not any(part.startswith("domain=") for part in attributes)
    assert len(session_id) >= 40


async def test_the_cookie_names_the_caller_and_the_session_tells_the_csrf_token(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    session_id, _ = await sign_in(first, 7)
    async with as_browser(first, session_id) as browser:
        me = await browser.get("/v1/me")
        described = (await browser.get("/auth/session")).json()
    assert me.status_code == 200, me.text
    assert described["user_id"] == 7
    assert len(described["csrf_token"]) >= 40


async def test_a_post_with_the_cookie_but_without_the_csrf_token_is_refused(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    session_id, _ = await sign_in(first, 8)
    async with as_browser(first, session_id) as browser:
        missing = await browser.post("/graphql", json=QUERY)
        wrong = await browser.post("/graphql", json=QUERY, headers={"X-CSRF-Token": "guess"})
    for answer in (missing, wrong):
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "X-CSRF-Token"


async def test_a_post_with_the_csrf_token_goes_through(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    session_id, _ = await sign_in(first, 9)
    async with as_browser(first, session_id) as browser:
        token = await csrf_token(browser)
        answer = await browser.post("/graphql", json=QUERY, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["viewer"]["profile"]["name"]


async def test_logout_ends_the_session_on_every_replica(replicas_on_each_topology: tuple[str, str]) -> None:
    first, second = replicas_on_each_topology
    session_id, _ = await sign_in(first, 10)
    async with as_browser(first, session_id) as on_first, as_browser(second, session_id) as on_second:
        assert (await on_second.get("/v1/me")).status_code == 200  # the session is shared
        token = await csrf_token(on_first)
        assert (await on_first.post("/auth/logout")).status_code == 403  # logout needs the CSRF token too
        out = await on_first.post("/auth/logout", headers={"X-CSRF-Token": token})
        assert out.status_code == 204
        assert f"{COOKIE}=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        for client in (on_first, on_second):
            after = await client.get("/v1/me")
            assert after.status_code == 401
            assert after.headers["content-type"].startswith("application/problem+json")


async def test_logout_all_ends_every_session_of_the_user_only(replicas_on_each_topology: tuple[str, str]) -> None:
    first, second = replicas_on_each_topology
    laptop, _ = await sign_in(first, 11)
    phone, _ = await sign_in(second, 11)
    someone_else, _ = await sign_in(first, 12)
    async with as_browser(second, phone) as on_phone:
        token = await csrf_token(on_phone)
        ended = await on_phone.post("/auth/logout-all", headers={"X-CSRF-Token": token})
    assert ended.status_code == 200 and ended.json() == {"sessions_ended": 2}
    async with as_browser(first, laptop) as a, as_browser(first, someone_else) as b:
        assert (await a.get("/v1/me")).status_code == 401
        assert (await b.get("/v1/me")).status_code == 200


async def test_a_session_gone_from_the_store_is_refused(upstreams: Standins, prefix: str) -> None:
    with serve_web(_config(upstreams, prefix)) as url:
        session_id, _ = await sign_in(url, 13)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            [key] = list(client.scan_iter(match=f"{prefix}:session:*"))
            client.delete(key)  # what the idle timeout's TTL does, without waiting for it
        finally:
            client.close()
        async with as_browser(url, session_id) as browser:
            answer = await browser.get("/v1/me")
    assert answer.status_code == 401
    assert "sign in again" in answer.json()["detail"]


async def test_a_sign_in_state_works_once(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    async with httpx.AsyncClient(timeout=10) as browser:
        flow = await start_sign_in(browser, first, 14)
        params, login = {"code": flow["code"], "state": flow["state"]}, cookies(**{LOGIN_COOKIE: flow["login"]})
        assert (await browser.get(f"{first}/auth/callback", params=params, headers=login)).status_code == 303
        replayed = await browser.get(f"{first}/auth/callback", params=params, headers=login)
        forged = await browser.get(f"{first}/auth/callback", params={"code": "x", "state": "made-up"}, headers=login)
    assert replayed.status_code == 400 and replayed.json()["field"] == "state"
    assert forged.status_code == 400


async def test_login_refuses_to_return_anywhere_but_this_site(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    async with httpx.AsyncClient(timeout=10) as browser:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            answer = await browser.get(f"{first}/auth/login", params={"return_to": target})
            assert answer.status_code == 400, target


async def test_login_may_return_to_a_listed_web_app_origin_only(upstreams: Standins, prefix: str) -> None:
    settings = _config(upstreams, prefix).model_copy(deep=True)
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"cors_origins": ["http://127.0.0.1:8088"]})}
    )
    with serve_web(settings) as url:
        async with httpx.AsyncClient(timeout=10) as browser:
            listed = await browser.get(f"{url}/auth/login", params={"return_to": "http://127.0.0.1:8088/?api=x"})
            refused = [
                await browser.get(f"{url}/auth/login", params={"return_to": target})
                for target in ("http://127.0.0.1:8089/", "http://127.0.0.1:8088@evil.example/", "javascript:x")
            ]
    assert listed.status_code == 302, listed.text
    assert [answer.status_code for answer in refused] == [400, 400, 400]


async def test_neither_the_session_id_nor_the_access_token_is_stored_in_the_clear(
    replicas: tuple[str, str], prefix: str, upstreams: Standins
) -> None:
    first, _ = replicas
    session_id, _ = await sign_in(first, 15)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        stored = b""
        for key in client.scan_iter(match=f"{prefix}:*"):
            kind = client.type(key)
            stored += key + b"\n"
            if kind == b"string":
                stored += client.get(key) or b""
            elif kind == b"set":
                stored += b"".join(m if isinstance(m, bytes) else m.encode() for m in client.smembers(key))
    finally:
        client.close()
    assert b":session:" in stored  # the scan does see the session
    assert session_id.encode() not in stored
    assert b"eyJ" not in stored  # no JWT (header starts base64 '{"') in keys or values
    assert b'"user_id":15' in stored  # what is stored openly is no secret


async def test_a_bearer_token_still_works_beside_sessions(web: httpx.AsyncClient) -> None:
    answer = await web.get("/v1/me", headers={"X-User-Id": "7"})
    assert answer.status_code == 200


async def test_a_sign_in_finishes_only_in_the_browser_that_started_it(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    async with httpx.AsyncClient(timeout=10) as attacker:
        flow = await start_sign_in(attacker, first, 16)  # the attacker signs in as themselves …
        params = {"code": flow["code"], "state": flow["state"]}
        # … and has a victim's browser, which lacks the login cookie, open the callback.
        victim = await attacker.get(f"{first}/auth/callback", params=params)
        other_browser = await attacker.get(
            f"{first}/auth/callback", params=params, headers=cookies(**{LOGIN_COOKIE: "someone-elses"})
        )
    for answer in (victim, other_browser):
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "state"
        assert set_cookie(answer, COOKIE) is None


async def test_the_login_cookie_is_short_lived_httponly_and_cleared_by_the_callback(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    async with httpx.AsyncClient(timeout=10) as browser:
        started = await browser.get(f"{first}/auth/login", params={"login_hint": 17})
    attributes = [part.strip().lower() for part in (set_cookie(started, LOGIN_COOKIE) or "").split(";")]
    assert {"httponly", "secure", "path=/", "samesite=lax", "max-age=600"} <= set(attributes)
    _, done = await sign_in(first, 17)
    assert "max-age=0" in (set_cookie(done, LOGIN_COOKIE) or "").lower()


async def test_an_ended_session_is_told_to_drop_its_cookie_and_can_sign_in_again(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    ended, _ = await sign_in(first, 18)
    async with as_browser(first, ended) as browser:
        token = await csrf_token(browser)
        assert (await browser.post("/auth/logout", headers={"X-CSRF-Token": token})).status_code == 204
        refused = await browser.get("/v1/products/42")
        started = await browser.get("/auth/login", params={"login_hint": 18})
    assert refused.status_code == 401
    assert "www-authenticate" not in refused.headers  # not a bearer token's failure
    assert "max-age=0" in (set_cookie(refused, COOKIE) or "").lower()
    assert started.status_code == 302  # the stale cookie does not stand in the way
    fresh, done = await sign_in(first, 18, session=ended)
    assert done.status_code == 303 and fresh and fresh != ended


async def test_signing_in_again_ends_the_browsers_previous_session(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    before, _ = await sign_in(first, 19)
    after, _ = await sign_in(first, 19, session=before)
    async with as_browser(first, before) as old, as_browser(first, after) as new:
        assert (await old.get("/v1/me")).status_code == 401
        assert (await new.get("/v1/me")).status_code == 200


async def test_the_idle_timeout_is_the_sessions_ttl_in_redis(upstreams: Standins, prefix: str) -> None:
    with serve_web(_config(upstreams, prefix, idle_seconds=120)) as url:
        await sign_in(url, 20)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        [key] = list(client.scan_iter(match=f"{prefix}:session:*"))
        assert 0 < client.pttl(key) <= 120_000
    finally:
        client.close()


async def test_a_failing_session_store_is_503_not_a_logout(upstreams: Standins, prefix: str) -> None:
    settings = _config(upstreams, prefix, store_timeout_seconds=0.5)
    with serve_web(settings) as url:
        session_id, _ = await sign_in(url, 21)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            [key] = list(client.scan_iter(match=f"{prefix}:session:*"))
            client.delete(key)
            client.rpush(key, b"not a session")  # the store answers with an error (WRONGTYPE)
            async with as_browser(url, session_id) as browser:
                answer = await browser.get("/v1/me")
        finally:
            client.delete(key)
            client.close()
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert set_cookie(answer, COOKIE) is None  # the browser keeps its cookie


async def test_a_session_cookie_beside_x_user_id_is_a_400_not_a_choice(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    session_id, _ = await sign_in(first, 22)
    async with as_browser(first, session_id) as browser:
        answer = await browser.get("/v1/me", headers={"X-User-Id": "23"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "urn:problem-type:bff:ambiguous-credentials"


async def test_a_session_cookie_sent_with_two_values_is_a_400(replicas: tuple[str, str]) -> None:
    first, _ = replicas
    mine, _ = await sign_in(first, 24)
    theirs, _ = await sign_in(first, 25)
    async with httpx.AsyncClient(base_url=first, timeout=10) as browser:
        joined = await browser.get("/v1/me", headers={"Cookie": f"{COOKIE}={mine}; {COOKIE}={theirs}"})
        split = await browser.get("/v1/me", headers=[("Cookie", f"{COOKIE}={theirs}"), ("Cookie", f"{COOKIE}={mine}")])
        same = await browser.get("/v1/me", headers=[("Cookie", f"{COOKIE}={mine}"), ("Cookie", f"{COOKIE}={mine}")])
    for answer in (joined, split):
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"] == "urn:problem-type:bff:ambiguous-credentials"
    assert same.status_code == 200 and same.json()["id"] == 24


async def test_in_jwt_mode_a_bearer_token_beside_a_session_cookie_is_a_400(upstreams: Standins, prefix: str) -> None:
    from upstreams.identity.keys import mint

    trusting = _config(upstreams, prefix)
    settings = trusting.model_copy(update={"auth": trusting.auth.model_copy(update={"mode": "jwt"})})
    with serve_web(settings) as url:
        session_id, done = await sign_in(url, 26)
        assert done.status_code == 303, done.text
        async with as_browser(url, session_id) as browser:
            alone = await browser.get("/v1/me")
            other = await browser.get("/v1/me", headers={"Authorization": f"Bearer {mint(27)}"})
            same = await browser.get("/v1/me", headers={"Authorization": f"Bearer {mint(26)}"})
    assert alone.status_code == 200 and alone.json()["id"] == 26
    for answer in (other, same):
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"] == "urn:problem-type:bff:ambiguous-credentials"
        assert answer.headers["www-authenticate"].startswith('Bearer realm="bff", error="invalid_request"')
