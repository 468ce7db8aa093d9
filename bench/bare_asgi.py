"""A bare ASGI app, no framework: the floor of per-request cost under uvicorn.

Every request gets the same small JSON body; served exactly as bff_mobile is (uvicorn,
uvloop, httptools, no access log), so the gap to it is the framework and the work::

    python bench/bare_asgi.py [PORT]      # or BARE_ASGI_PORT; default 8099
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
DEFAULT_PORT = 8099
BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    # Served with lifespan="off", so only "http" scopes arrive.
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else int(os.environ.get("BARE_ASGI_PORT", DEFAULT_PORT))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main(sys.argv)
