"""Reading the caller's credentials from a request's raw headers, never choosing among them.

A request names its caller once, one way. Anything else is ambiguous and refused with a
400 problem (type ``ambiguous-credentials``), whichever credential would have been valid:

* the credential header (``Authorization`` in jwt mode, ``X-User-Id`` in trusted_header
  mode) and ``X-CSRF-Token`` may come once; any repeat is refused, identical values too
  (they are singleton fields: a repeat is a spliced or broken request, not a preference);
* an ``Authorization`` value holds one credential: ``Bearer <token>``; a comma or a
  second word after the token (``Bearer a, Bearer b``, ``Bearer a b``) is refused;
* the session cookie may appear more than once (``Cookie`` may be split over several
  header lines, RFC 9113 §8.2.3) only with one value;
* a bearer token (or ``X-User-Id``) together with a session cookie is refused, even when
  both would name the same user (RFC 6750 §3.1: more than one method): telling would
  cost a verification and a store read for a request that is wrong anyway.

``Authorization`` with another scheme, or ``Bearer`` without a token, is no bearer
credential: a 401 with a bare challenge (RFC 6750 §3.1, no error code).

Starlette's ``Headers.get`` returns the first of repeated headers and ``dict`` of the raw
list keeps the last, so credentials are read from ``scope["headers"]`` here, in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.errors import AmbiguousCredentials, Unauthenticated

AUTHORIZATION = b"authorization"
USER_HEADER = b"x-user-id"
CSRF_HEADER = b"x-csrf-token"
COOKIE_HEADER = b"cookie"
REALM = "bff"
#: What RFC 6750 §3 allows in error_description; anything else is replaced.
_UNSAFE_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_HEADER_NAMES = {
    AUTHORIZATION: "Authorization",
    USER_HEADER: "X-User-Id",
    CSRF_HEADER: "X-CSRF-Token",
}


@dataclass(slots=True)
class Credentials:
    """What a request carries to name its caller, each at most once."""

    #: The value of the credential header (``Authorization`` or ``X-User-Id``), if sent.
    credential: bytes | None = None
    csrf_token: bytes | None = None
    #: Every ``Cookie`` header line, in order (empty when none).
    cookies: tuple[bytes, ...] = ()


def read_credentials(headers: Iterable[tuple[bytes, bytes]], credential_header: bytes) -> Credentials:
    """The credentials in raw ASGI ``headers``; ``AmbiguousCredentials`` on a repeat."""
    found = Credentials()
    cookies: list[bytes] = []
    for name, value in headers:
        if name == credential_header:
            if found.credential is not None:
                raise _repeated(name)
            found.credential = value
        elif name == COOKIE_HEADER:
            cookies.append(value)
        elif name == CSRF_HEADER:
            if found.csrf_token is not None:
                raise _repeated(name)
            found.csrf_token = value
    if cookies:
        found.cookies = tuple(cookies)
    return found


def refuse_repeated(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> None:
    """``AmbiguousCredentials`` if header ``name`` comes more than once."""
    seen = False
    for header, _ in headers:
        if header == name:
            if seen:
                raise _repeated(name)
            seen = True


def bearer_token(authorization: bytes) -> str:
    """The token of an ``Authorization: Bearer <token>`` value.

    ``AmbiguousCredentials`` for a value carrying more than one credential,
    ``Unauthenticated`` for another scheme or a missing token."""
    scheme, _, rest = authorization.strip().partition(b" ")
    token = rest.lstrip(b" ")
    several = b"," in authorization or b" " in token or b"\t" in token
    if several and (scheme.lower() == b"bearer" or b"," in authorization):
        raise AmbiguousCredentials(
            "the 'Authorization' header holds more than one credential; send exactly one: 'Bearer <token>'",
            field="Authorization",
        )
    if scheme.lower() != b"bearer" or not token:
        raise Unauthenticated("use 'Authorization: Bearer <token>'", field="Authorization")
    return token.decode("latin-1")  # whatever it is, the verifier says what is wrong with it


def session_id(cookie_headers: Iterable[bytes], name: str) -> str | None:
    """The value of cookie ``name`` over every ``Cookie`` line; ``AmbiguousCredentials``
    when it appears with different values (a tossed cookie beside the real one)."""
    found: str | None = None
    for header in cookie_headers:
        for pair in header.decode("latin-1").split(";"):
            key, _, value = pair.strip().partition("=")
            if key != name:
                continue
            if found is not None and value != found:
                raise AmbiguousCredentials(
                    f"the session cookie {name!r} is sent more than once with different values;"
                    " clear this site's cookies and sign in again",
                    field="Cookie",
                )
            found = value
    return found or None


def two_ways(header: bytes) -> AmbiguousCredentials:
    """The refusal of a request naming its caller in ``header`` and by session cookie."""
    shown = _HEADER_NAMES.get(header, header.decode("latin-1"))
    return AmbiguousCredentials(
        f"the request names its caller twice, in {shown!r} and in the session cookie; send one of them",
        field=shown,
    )


def challenge(error: str | None = None, description: str | None = None, *, realm: str = REALM) -> str:
    """A ``WWW-Authenticate`` value for the Bearer scheme (RFC 6750 §3)."""
    parts = [f'Bearer realm="{realm}"']
    if error is not None:
        parts.append(f'error="{error}"')
        if description:
            parts.append(f'error_description="{_UNSAFE_DESCRIPTION.sub("?", description[:200])}"')
    return ", ".join(parts)


#: The challenge of a request that presented no bearer token.
BEARER_CHALLENGE = challenge()


def _repeated(name: bytes) -> AmbiguousCredentials:
    shown = _HEADER_NAMES.get(name, name.decode("latin-1"))
    return AmbiguousCredentials(f"the {shown!r} header is sent more than once; send it exactly once", field=shown)


__all__ = [
    "BEARER_CHALLENGE",
    "Credentials",
    "bearer_token",
    "challenge",
    "read_credentials",
    "refuse_repeated",
    "session_id",
    "two_ways",
]
