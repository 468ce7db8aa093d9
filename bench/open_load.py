"""An open-model HTTP load generator: requests leave on a fixed timetable, whatever the answers.

wrk is closed-loop: a connection sends its next request only when the last one is
answered, so a slow server is sent less and its stalls hide from the percentiles
(coordinated omission). Here request ``i`` is due at ``start + i / rate``; it goes out on
an idle kept-alive connection, or a new one, however many are still waiting for answers,
and its latency runs from the time it was *due*, not from when it was written. So a server
that stalls for 100 ms is charged 100 ms by every request due meanwhile, as a real
client population would see it::

    python bench/open_load.py --url http://127.0.0.1:8081/v1/home --rate 200 --duration 20 \\
        --tokens bench/out/tokens.txt

Callers rotate over the users of ``--tokens`` (line N is user N's bearer token), sending
both ``Authorization: Bearer`` and ``X-User-Id`` as ``bench/home.lua`` does. Standard
library plus uvloop and httptools (both come with uvicorn[standard]). The last line of
output is ``OPEN_LOAD_JSON {...}``: what was sent, answered and how late.

The generator's own lateness (when its timetable loop got to a request, minus its due
time) is reported beside the latencies: if its p99 is not far below the target's, the
generator, not the target, was the bottleneck, and the figures say so (``kept_schedule``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import httptools
import uvloop

#: Connections opened before the first request is due, so the first ones do not pay a connect.
DEFAULT_PREOPEN = 32
#: A cap on open connections; a request due while all are busy waits (counted) for one.
DEFAULT_MAX_CONNECTIONS = 2048
#: An idle connection older than this is closed instead of reused: a server may have
#: timed it out, and a request written into a connection the server is closing fails.
MAX_IDLE_S = 20.0
#: The generator kept its schedule when its p99 lateness stays below this.
MAX_LATENESS_P99_MS = 2.0


def due_offsets(rate: float, duration_s: float) -> list[float]:
    """Seconds after the start at which each request is due: ``i / rate`` for every
    ``i`` with ``i / rate < duration_s``, i.e. ``ceil(rate * duration_s)`` requests."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"rate and duration must be positive, got rate={rate} duration={duration_s}")
    count = math.ceil(rate * duration_s - 1e-9)
    return [i / rate for i in range(count)]


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def request_bytes(host: str, path: str, tokens: Sequence[str]) -> list[bytes]:
    """One formatted GET per user (user N is index N-1), sent as is."""
    return [
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-User-Id: {uid}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for uid, token in enumerate(tokens, start=1)
    ]


@dataclass
class Tally:
    """What the run recorded, in seconds; latencies and lateness per answered request."""

    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    waited_for_connection: int = 0
    connections_opened: int = 0
    max_in_flight: int = 0
    in_flight: int = 0
    last_dispatch: float = 0.0


class Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._due = 0.0
        self.busy = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes, due: float) -> None:
        assert self._transport is not None
        self.busy = True
        self._due = due
        self._transport.write(payload)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail()

    def on_message_complete(self) -> None:  # httptools callback
        status = self._parser.get_status_code()
        self.busy = False
        self._pool.answered(self, status, self._due, keep=self._parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.busy = False
            self._pool.failed()
        self._pool.forget(self)

    def _fail(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Pool:
    """Idle connections (most recently used first), and requests waiting for one."""

    def __init__(self, host: str, port: int, max_connections: int, tally: Tally) -> None:
        self._host, self._port = host, port
        self._max = max_connections
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._connecting = 0
        self._waiting: list[tuple[bytes, float]] = []
        self._tally = tally
        self._opening: set[asyncio.Future[None]] = set()
        self.done = asyncio.Event()
        self.expected = 0

    async def open(self) -> None:
        """One more connection; if it cannot be made, a request waiting for it fails."""
        loop = asyncio.get_running_loop()
        self._connecting += 1
        try:
            _, connection = await loop.create_connection(lambda: Connection(self), self._host, self._port)
        except OSError:
            if self._waiting:
                self._waiting.pop(0)
                self.failed()
            return
        finally:
            self._connecting -= 1
        self._tally.connections_opened += 1
        self._open.add(connection)
        self._release(connection)

    async def preopen(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        connections = await asyncio.gather(
            *(loop.create_connection(lambda: Connection(self), self._host, self._port) for _ in range(count))
        )
        for _, connection in connections:
            self._tally.connections_opened += 1
            self._open.add(connection)
            self._release(connection)

    def _open_another(self) -> None:
        task = asyncio.ensure_future(self.open())
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    def dispatch(self, payload: bytes, due: float) -> None:
        """Send now on an idle connection, else open one (the request waits for it)."""
        tally = self._tally
        tally.in_flight += 1
        tally.max_in_flight = max(tally.max_in_flight, tally.in_flight)
        now = time.perf_counter()
        # The generator's own lag: how late its timetable loop got to this request. Waiting
        # for a connection is the target's doing (it has not answered), so it is not in here.
        tally.lateness.append(now - due)
        tally.last_dispatch = now
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < MAX_IDLE_S:
                self._write(connection, payload, due)
                return
            connection.close()
        self._waiting.append((payload, due))
        tally.waited_for_connection += 1
        if len(self._open) + self._connecting < self._max:
            self._open_another()

    def _write(self, connection: Connection, payload: bytes, due: float) -> None:
        connection.send(payload, due)

    def _release(self, connection: Connection) -> None:
        if self._waiting:
            payload, due = self._waiting.pop(0)
            self._write(connection, payload, due)
        else:
            connection.idle_since = time.perf_counter()
            self._idle.append(connection)

    def answered(self, connection: Connection, status: int, due: float, *, keep: bool) -> None:
        tally = self._tally
        tally.latencies.append(time.perf_counter() - due)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if keep:
            self._release(connection)
        else:
            connection.close()
        self._finish_one()

    def failed(self) -> None:
        self._tally.socket_errors += 1
        self._finish_one()

    def forget(self, connection: Connection) -> None:
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        if self._waiting and len(self._open) + self._connecting < self._max:
            self._open_another()

    def _finish_one(self) -> None:
        self._tally.in_flight -= 1
        self.expected -= 1
        if self.expected <= 0:
            self.done.set()

    def close_all(self) -> None:
        for connection in list(self._open):
            connection.close()


@dataclass(frozen=True, slots=True)
class OpenLoadResult:
    """One open-model run, latencies in milliseconds from each request's due time."""

    rate: float
    duration_s: float
    scheduled: int
    answered: int
    non2xx: int
    socket_errors: int
    timeouts: int
    #: Requests sent per second, from the first due time to the last one sent.
    achieved_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    waited_for_connection: int
    connections_opened: int
    max_in_flight: int

    @property
    def kept_schedule(self) -> bool:
        """The generator wrote its requests on time and at the rate asked."""
        return self.lateness_p99_ms < MAX_LATENESS_P99_MS and self.achieved_rate >= 0.99 * self.rate


async def run(
    url: str,
    tokens: Sequence[str],
    rate: float,
    duration_s: float,
    *,
    preopen: int = DEFAULT_PREOPEN,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    timeout_s: float = 10.0,
) -> OpenLoadResult:
    """Send ``rate`` requests a second to ``url`` for ``duration_s``, then wait up to
    ``timeout_s`` for the last answers; requests still unanswered count as timeouts."""
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    payloads = request_bytes(f"{host}:{port}", parsed.path or "/", tokens)
    offsets = due_offsets(rate, duration_s)
    tally = Tally(latencies=[], lateness=[])
    pool = Pool(host, port, max_connections, tally)
    pool.expected = len(offsets)
    await pool.preopen(min(preopen, max_connections))
    gc.collect()
    gc.disable()  # a collection pause would make the generator late, not the target slow
    start = time.perf_counter() + 0.05
    users = len(payloads)
    try:
        for i, offset in enumerate(offsets):
            due = start + offset
            delay = due - time.perf_counter()
            while delay > 0:
                await asyncio.sleep(delay)
                delay = due - time.perf_counter()
            pool.dispatch(payloads[i % users], due)
        ended = tally.last_dispatch
        with contextlib.suppress(TimeoutError):  # what is still unanswered counts as timed out
            await asyncio.wait_for(pool.done.wait(), timeout_s)
    finally:
        gc.enable()
        pool.close_all()
    unanswered = max(pool.expected, 0)
    latencies = sorted(tally.latencies)
    lateness = sorted(tally.lateness)
    written = len(lateness)
    span = ended - start
    return OpenLoadResult(
        rate=rate,
        duration_s=duration_s,
        scheduled=len(offsets),
        answered=len(latencies),
        non2xx=sum(n for status, n in tally.statuses.items() if not 200 <= status < 400),
        socket_errors=tally.socket_errors,
        timeouts=unanswered,
        # Requests 0..n-1 are due over (n-1)/rate seconds; written in that span = on rate.
        achieved_rate=(written - 1) / span if written > 1 and span > 0 else math.nan,
        p50_ms=1000 * percentile(latencies, 50),
        p90_ms=1000 * percentile(latencies, 90),
        p99_ms=1000 * percentile(latencies, 99),
        p999_ms=1000 * percentile(latencies, 99.9),
        max_ms=1000 * latencies[-1] if latencies else math.nan,
        lateness_p50_ms=1000 * percentile(lateness, 50),
        lateness_p99_ms=1000 * percentile(lateness, 99),
        lateness_max_ms=1000 * lateness[-1] if lateness else math.nan,
        waited_for_connection=tally.waited_for_connection,
        connections_opened=tally.connections_opened,
        max_in_flight=tally.max_in_flight,
    )


def result_line(result: OpenLoadResult) -> str:
    return "OPEN_LOAD_JSON " + json.dumps({**asdict(result), "kept_schedule": result.kept_schedule})


def parse_result(output: str) -> OpenLoadResult:
    """The result a run printed (its ``OPEN_LOAD_JSON`` line); ValueError if there is none."""
    line = next((ln for ln in reversed(output.splitlines()) if ln.startswith("OPEN_LOAD_JSON ")), None)
    if line is None:
        raise ValueError("no OPEN_LOAD_JSON line in the output")
    data = json.loads(line.removeprefix("OPEN_LOAD_JSON "))
    data.pop("kept_schedule", None)
    return OpenLoadResult(**data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8081/v1/home (loopback)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds of sending")
    parser.add_argument("--tokens", type=Path, required=True, help="one bearer token a line; line N is user N")
    parser.add_argument("--preopen", type=int, default=DEFAULT_PREOPEN, help="connections opened first")
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the last answers")
    args = parser.parse_args(argv)
    tokens = [line for line in args.tokens.read_text().splitlines() if line]
    if not tokens:
        parser.error(f"{args.tokens} holds no tokens")
    result = uvloop.run(
        run(
            args.url,
            tokens,
            args.rate,
            args.duration,
            preopen=args.preopen,
            max_connections=args.max_connections,
            timeout_s=args.timeout,
        )
    )
    print(result_line(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
