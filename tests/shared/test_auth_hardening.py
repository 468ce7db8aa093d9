"""Issue 13: ambiguous credentials, JWKS reads that never stall a known key, tokens that
do not outlive their key, and the ``WWW-Authenticate`` challenge.

The verifier runs against an identity provider of the test's own (a fake fetcher whose
read can be held on an ``asyncio.Event``) and a manual clock; "does not wait" is proven by
stepping a coroutine once: it must finish without suspending."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.auth import TokenVerifier
from shared.auth.credentials import bearer_token, challenge, session_id
from shared.auth.middleware import AuthMiddleware, SessionCookies
from shared.auth.sessions import SessionStore
from shared.cache.keys import CacheKeys
from shared.cache.sealing import Sealer
from shared.cache.stores import MemoryStore
from shared.errors import AmbiguousCredentials, Unauthenticated, UpstreamUnavailable
from shared.identity import caller_id
from shared.problems import EXCEPTION_HANDLERS, TYPE_PREFIX
from shared.settings import AuthSettings
from upstreams.identity.keys import mint, public_jwk

T = TypeVar("T")
ISSUER = "https://id.example.test"
SETTINGS = AuthSettings(issuer=ISSUER, jwks_min_refresh_seconds=10, jwks_max_age_seconds=600)
AMBIGUOUS = TYPE_PREFIX + "ambiguous-credentials"
COOKIE = "__Host-bff_session"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """The identity provider's JWKS; ``hold`` keeps a read waiting until it is set."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {"k1": ec.generate_private_key(ec.SECP256R1())}
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.reading = asyncio.Event()
        self.failure: Exception | None = None

    async def __call__(self) -> Mapping[str, Any]:
        self.reads += 1
        self.reading.set()
        published = {"keys": [public_jwk(key, kid) for kid, key in self.keys.items()]}
        if self.hold is not None:
            await self.hold.wait()
        if self.failure is not None:
            raise self.failure
        return published

    def token(self, user: int = 7, kid: str = "k1") -> str:
        return mint(user, key=self.keys[kid], kid=kid, issuer=ISSUER, audience="bff")


def without_waiting(coro: Coroutine[Any, Any, T]) -> T:
    """What ``coro`` returns, if it returns without ever suspending; else the test fails."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("it suspended: it waited for something")


def refused_without_waiting(coro: Coroutine[Any, Any, Any]) -> Unauthenticated:
    try:
        coro.send(None)
    except Unauthenticated as exc:
        return exc
    except StopIteration:
        raise AssertionError("it was accepted") from None
    coro.close()
    raise AssertionError("it suspended: it waited for something")


async def settle() -> None:
    """Let tasks that need no outside event (a read not held) run to their end."""
    for _ in range(10):
        await asyncio.sleep(0)


async def warmed(provider: Provider, clock: Clock, **options: Any) -> TokenVerifier:
    verifier = TokenVerifier(SETTINGS, provider, clock, **options)
    assert await verifier.user_id(provider.token(1)) == 1  # the first token reads the JWKS
    assert provider.reads == 1
    provider.reading.clear()
    return verifier


# --- JWKS reads: a known key never waits -------------------------------------------------


async def test_a_token_with_a_known_key_never_waits_for_a_read_another_token_started() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    provider.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    provider.hold = asyncio.Event()
    clock.now += 60
    rotated = asyncio.create_task(verifier.user_id(provider.token(2, kid="k2")))
    await provider.reading.wait()  # the unknown key's read is in flight, held
    assert without_waiting(verifier.user_id(provider.token(3))) == 3  # first seen, key k1 known
    assert not rotated.done()
    provider.hold.set()
    assert await rotated == 2
    assert provider.reads == 2


async def test_old_keys_are_reread_in_the_background_while_tokens_verify_with_the_current_ones() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    remembered = provider.token(4)
    assert await verifier.user_id(remembered) == 4
    provider.hold = asyncio.Event()
    clock.now += 600  # past jwks_max_age_seconds
    assert without_waiting(verifier.user_id(provider.token(5))) == 5
    assert without_waiting(verifier.user_id(remembered)) == 4
    await provider.reading.wait()
    assert provider.reads == 2  # one read, started in the background
    assert without_waiting(verifier.user_id(provider.token(6))) == 6
    provider.hold.set()
    await settle()
    assert provider.reads == 2


async def test_concurrent_tokens_with_an_unknown_key_share_one_read() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    provider.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    provider.hold = asyncio.Event()
    clock.now += 60
    waiting = [asyncio.create_task(verifier.user_id(provider.token(user, kid="k2"))) for user in range(10, 20)]
    await provider.reading.wait()
    await settle()
    assert provider.reads == 2
    provider.hold.set()
    assert await asyncio.gather(*waiting) == list(range(10, 20))
    assert provider.reads == 2


async def test_reads_for_unknown_keys_are_at_most_one_per_min_refresh_interval() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    stranger = ec.generate_private_key(ec.SECP256R1())
    unknown = mint(7, key=stranger, kid="nobody", issuer=ISSUER, audience="bff")
    clock.now += 10
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.user_id(unknown)
    assert provider.reads == 2
    clock.now += 9  # within jwks_min_refresh_seconds of that read: refused, no read, no wait
    assert "unknown key" in refused_without_waiting(verifier.user_id(unknown)).detail
    assert provider.reads == 2
    clock.now += 1
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.user_id(unknown)
    assert provider.reads == 3


async def test_an_unknown_key_waits_for_its_read_no_longer_than_the_bound() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock, key_wait_seconds=0)
    provider.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    provider.hold = asyncio.Event()
    clock.now += 60
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.user_id(provider.token(2, kid="k2"))  # the read is still held
    provider.hold.set()
    await settle()  # the read was not given up: it lands, and the key is known now
    assert without_waiting(verifier.user_id(provider.token(2, kid="k2"))) == 2
    assert provider.reads == 2


async def test_a_failed_read_keeps_the_keys_it_had() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    provider.failure = UpstreamUnavailable("identity", "get_jwks", "connection refused")
    clock.now += 600
    assert without_waiting(verifier.user_id(provider.token(8))) == 8
    await settle()
    assert provider.reads == 2
    assert without_waiting(verifier.user_id(provider.token(9))) == 9


async def test_a_cancelled_request_does_not_cancel_the_read_it_waits_for() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    provider.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    provider.hold = asyncio.Event()
    clock.now += 60
    gone = asyncio.create_task(verifier.user_id(provider.token(2, kid="k2")))
    await provider.reading.wait()
    gone.cancel()  # the client hung up
    await settle()
    provider.hold.set()
    await settle()
    assert without_waiting(verifier.user_id(provider.token(3, kid="k2"))) == 3
    assert provider.reads == 2


# --- a token does not outlive its key ----------------------------------------------------


async def test_a_remembered_token_is_refused_once_a_read_drops_its_key() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    token = provider.token(7)
    assert await verifier.user_id(token) == 7
    provider.keys = {"k2": ec.generate_private_key(ec.SECP256R1())}  # k1 retired
    clock.now += 600
    assert without_waiting(verifier.user_id(token)) == 7  # served while the read runs
    await settle()
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.user_id(token)


async def test_a_read_an_unknown_key_triggers_also_revokes_tokens_of_dropped_keys() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    old = provider.token(7)
    assert await verifier.user_id(old) == 7
    provider.keys = {"k2": ec.generate_private_key(ec.SECP256R1())}
    clock.now += 10
    assert await verifier.user_id(provider.token(8, kid="k2")) == 8
    with pytest.raises(Unauthenticated):
        await verifier.user_id(old)


async def test_a_key_replaced_under_the_same_id_revokes_its_tokens() -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    old = provider.token(7)
    assert await verifier.user_id(old) == 7
    provider.keys = {"k1": ec.generate_private_key(ec.SECP256R1())}
    clock.now += 600
    await verifier.user_id(old)  # starts the read
    await settle()
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.user_id(old)  # the signature does not match the new k1
    assert await verifier.user_id(provider.token(8)) == 8


async def test_a_read_that_keeps_a_key_keeps_its_tokens_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    provider, clock = Provider(), Clock()
    verifier = await warmed(provider, clock)
    token = provider.token(7)
    assert await verifier.user_id(token) == 7
    decoded = count_decodes(monkeypatch)
    clock.now += 600
    await verifier.user_id(token)
    await settle()
    assert provider.reads == 2
    assert await verifier.user_id(token) == 7
    assert decoded == []  # no signature checked again


async def test_a_remembered_token_is_checked_again_from_its_expiry_by_the_wall_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider, clock, wall = Provider(), Clock(), Clock()
    verifier = await warmed(provider, clock, wall_clock=wall)
    token = provider.token(7)
    expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    wall.now = expires - 1
    assert await verifier.user_id(token) == 7
    decoded = count_decodes(monkeypatch)
    assert await verifier.user_id(token) == 7
    assert decoded == []
    wall.now = expires
    await verifier.user_id(token)  # (jwt itself judges by the real time, within the token's life)
    assert decoded == [token]


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is checked from now on."""
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(raw: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(raw)
        return real_decode(raw, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)  # the module the verifier calls
    return decoded


# --- credentials read from the raw headers -----------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Bearer a.b.c, Bearer d.e.f",
        "Bearer a.b.c,d.e.f",
        "Bearer a.b.c d.e.f",
        "Basic dXNlcjpwdw==, Bearer a.b.c",
        "Bearer a.b.c,",
    ],
)
def test_an_authorization_value_with_two_credentials_is_ambiguous(value: str) -> None:
    with pytest.raises(AmbiguousCredentials):
        bearer_token(value.encode())


@pytest.mark.parametrize("value", ["Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "", "Token a.b.c"])
def test_an_authorization_value_without_a_bearer_token_is_unauthenticated(value: str) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(value.encode())


def test_a_bearer_token_is_read_whatever_the_schemes_case_and_spacing() -> None:
    assert bearer_token(b"bearer  a.b-c_d~e+f/g==") == "a.b-c_d~e+f/g=="


def test_a_session_cookie_repeated_with_one_value_is_that_value_and_with_two_is_ambiguous() -> None:
    assert session_id([b"a=1; __Host-s=x", b"__Host-s=x"], "__Host-s") == "x"
    assert session_id([b"a=1; __Host-sx=y"], "__Host-s") is None
    with pytest.raises(AmbiguousCredentials):
        session_id([b"__Host-s=x; __Host-s=y"], "__Host-s")
    with pytest.raises(AmbiguousCredentials):
        session_id([b"__Host-s=x", b"__Host-s="], "__Host-s")


def test_an_error_description_cannot_break_out_of_its_quotes() -> None:
    value = challenge("invalid_token", "alg 'x\"\r\nSet-Cookie: a=b\\' is not accepted")
    description = value.split('error_description="', 1)[1]
    assert description.endswith('"') and '"' not in description[:-1]
    assert not {"\r", "\n", "\\"} & set(description)


# --- the middleware, in each mode --------------------------------------------------------


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"id": caller_id(request)})


def app(verifier: TokenVerifier | None, sessions: SessionCookies | None = None) -> AuthMiddleware:
    """A route that needs the caller, behind the middleware, errors rendered as in the processes."""
    routes = [Route(path, me, methods=["GET", "POST"]) for path in ("/me", "/auth/login", "/admin/state")]
    return AuthMiddleware(Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS), verifier, sessions)


async def session_cookies() -> tuple[SessionCookies, str, str]:
    store = SessionStore(idle_seconds=600, max_age_seconds=600, timeout=1)
    store.bind(MemoryStore(100), CacheKeys("t", b"k" * 32), Sealer.ephemeral())
    session, described = await store.create(21, "access-token", token_expires_in=600)
    cookies = SessionCookies(store, COOKIE, sign_in_paths=frozenset({"/auth/login"}))
    return cookies, session, described.csrf_token


async def call(
    application: AuthMiddleware, headers: list[tuple[str, str]], path: str = "/me", method: str = "GET"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff.test") as client:
        return await client.request(method, path, headers=headers)


def assert_ambiguous(answer: httpx.Response) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == AMBIGUOUS


@pytest.fixture
async def provider() -> Provider:
    return Provider()


@pytest.fixture
async def jwt_app(provider: Provider) -> AuthMiddleware:
    return app(await warmed(provider, Clock()))


@pytest.mark.parametrize(("first", "second"), [("garbage", "A"), ("A", "B"), ("B", "A"), ("A", "A"), ("A", "garbage")])
async def test_a_repeated_authorization_header_is_a_400_whatever_it_holds(
    jwt_app: AuthMiddleware, provider: Provider, first: str, second: str
) -> None:
    values = {"A": f"Bearer {provider.token(7)}", "B": f"Bearer {provider.token(8)}", "garbage": "Bearer x.y.z"}
    answer = await call(jwt_app, [("Authorization", values[first]), ("Authorization", values[second])])
    assert_ambiguous(answer)
    assert answer.json()["field"] == "Authorization"
    assert answer.headers["www-authenticate"].startswith('Bearer realm="bff", error="invalid_request"')


async def test_two_tokens_in_one_authorization_header_are_a_400(jwt_app: AuthMiddleware, provider: Provider) -> None:
    answer = await call(jwt_app, [("Authorization", f"Bearer {provider.token(7)}, Bearer {provider.token(8)}")])
    assert_ambiguous(answer)


async def test_one_valid_token_names_the_caller(jwt_app: AuthMiddleware, provider: Provider) -> None:
    answer = await call(jwt_app, [("Authorization", f"Bearer {provider.token(7)}")])
    assert answer.status_code == 200 and answer.json() == {"id": 7}


async def test_a_repeated_admin_authorization_header_is_a_400(jwt_app: AuthMiddleware) -> None:
    answer = await call(jwt_app, [("Authorization", "Bearer x"), ("Authorization", "Bearer y")], "/admin/state")
    assert_ambiguous(answer)


@pytest.mark.parametrize("values", [("7", "8"), ("7", "7")])
async def test_a_repeated_x_user_id_is_a_400_in_trusted_header_mode(values: tuple[str, str]) -> None:
    answer = await call(app(None), [("X-User-Id", value) for value in values])
    assert_ambiguous(answer)
    assert answer.json()["field"] == "X-User-Id"
    assert "www-authenticate" not in answer.headers


async def test_a_bearer_token_beside_a_session_cookie_is_a_400(provider: Provider) -> None:
    cookies, session, _ = await session_cookies()
    application = app(await warmed(provider, Clock()), cookies)
    for user in (7, 21):  # another user, or the session's own: either way two ways in
        headers = [("Authorization", f"Bearer {provider.token(user)}"), ("Cookie", f"{COOKIE}={session}")]
        assert_ambiguous(await call(application, headers))
    alone = await call(application, [("Cookie", f"{COOKIE}={session}")])
    assert alone.status_code == 200 and alone.json() == {"id": 21}


async def test_x_user_id_beside_a_session_cookie_is_a_400_in_trusted_header_mode() -> None:
    cookies, session, _ = await session_cookies()
    answer = await call(app(None, cookies), [("X-User-Id", "7"), ("Cookie", f"{COOKIE}={session}")])
    assert_ambiguous(answer)


async def test_the_sign_in_paths_do_not_read_the_cookie_so_a_bearer_beside_it_is_no_conflict(
    provider: Provider,
) -> None:
    cookies, session, _ = await session_cookies()
    application = app(await warmed(provider, Clock()), cookies)
    headers = [("Authorization", f"Bearer {provider.token(7)}"), ("Cookie", f"{COOKIE}={session}")]
    answer = await call(application, headers, "/auth/login")
    assert answer.status_code == 200 and answer.json() == {"id": 7}


@pytest.mark.parametrize(
    "cookie_lines",
    [
        [f"{COOKIE}=SESSION; {COOKIE}=other"],
        [f"{COOKIE}=other; {COOKIE}=SESSION"],
        [f"{COOKIE}=SESSION", f"{COOKIE}=other"],
    ],
)
async def test_a_session_cookie_with_two_values_is_a_400(cookie_lines: list[str]) -> None:
    cookies, session, _ = await session_cookies()
    headers = [("Cookie", line.replace("SESSION", session)) for line in cookie_lines]
    answer = await call(app(None, cookies), headers)
    assert_ambiguous(answer)
    assert answer.json()["field"] == "Cookie"


async def test_cookie_lines_split_over_several_headers_are_read_together() -> None:
    cookies, session, _ = await session_cookies()
    answer = await call(app(None, cookies), [("Cookie", "theme=dark"), ("Cookie", f"{COOKIE}={session}")])
    assert answer.status_code == 200 and answer.json() == {"id": 21}


async def test_a_repeated_csrf_token_is_a_400_even_when_one_is_right() -> None:
    cookies, session, csrf = await session_cookies()
    headers = [("Cookie", f"{COOKIE}={session}"), ("X-CSRF-Token", "guess"), ("X-CSRF-Token", csrf)]
    assert_ambiguous(await call(app(None, cookies), headers, method="POST"))
    one = [("Cookie", f"{COOKIE}={session}"), ("X-CSRF-Token", csrf)]
    assert (await call(app(None, cookies), one, method="POST")).status_code == 200


# --- WWW-Authenticate on every 401 of jwt mode ------------------------------------------


async def test_a_401_without_a_token_carries_the_bearer_challenge(jwt_app: AuthMiddleware) -> None:
    answer = await call(jwt_app, [])
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="bff"'


async def test_another_scheme_is_a_401_with_the_bare_challenge(jwt_app: AuthMiddleware) -> None:
    answer = await call(jwt_app, [("Authorization", "Basic dXNlcjpwdw==")])
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="bff"'


async def test_a_refused_token_is_a_401_saying_invalid_token_and_why(
    jwt_app: AuthMiddleware, provider: Provider
) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = mint(7, key=stranger, kid="k1", issuer=ISSUER, audience="bff")
    answer = await call(jwt_app, [("Authorization", f"Bearer {forged}")])
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == (
        'Bearer realm="bff", error="invalid_token", error_description="the token is invalid: InvalidSignatureError"'
    )


async def test_a_hostile_token_header_cannot_inject_into_the_challenge(jwt_app: AuthMiddleware) -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = part({"alg": 'x"\r\nSet-Cookie: a=b', "kid": "k1"})
    hostile = f"{header}.{part({'sub': '7'})}.c2ln"
    answer = await call(jwt_app, [("Authorization", f"Bearer {hostile}")])
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert answer.headers["www-authenticate"].startswith('Bearer realm="bff", error="invalid_token"')


async def test_an_ended_session_is_a_401_with_the_bare_challenge_in_jwt_mode(provider: Provider) -> None:
    cookies, _, _ = await session_cookies()
    application = app(await warmed(provider, Clock()), cookies)
    answer = await call(application, [("Cookie", f"{COOKIE}=ended-long-ago")])
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="bff"'


async def test_trusted_header_mode_offers_no_bearer_challenge() -> None:
    answer = await call(app(None), [])
    assert answer.status_code == 401
    assert "www-authenticate" not in answer.headers


async def test_an_admin_401_names_the_admin_realm(jwt_app: AuthMiddleware) -> None:
    answer = await call(jwt_app, [], "/admin/state")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="bff-admin"'
