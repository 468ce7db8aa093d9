"""bench/open_load.py: its timetable, its percentiles, and that it is open-model (it sends
on schedule while earlier requests are still unanswered, and counts latency from the due
time)."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_open_load() -> ModuleType:
    # bench/ is a folder of scripts, not a package: load the module from its file.
    spec = importlib.util.spec_from_file_location("open_load", BENCH / "open_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


open_load = load_open_load()


def test_a_run_is_due_at_i_over_rate_for_its_duration() -> None:
    offsets = open_load.due_offsets(200, 2.0)
    assert len(offsets) == 400
    assert offsets[0] == 0.0
    assert offsets[-1] == pytest.approx(399 / 200)
    assert all(b - a == pytest.approx(1 / 200) for a, b in itertools.pairwise(offsets))


def test_a_fractional_rate_rounds_the_count_up() -> None:
    assert len(open_load.due_offsets(2.5, 1.0)) == 3  # due at 0, 0.4 and 0.8 s


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="rate and duration must be positive"):
        open_load.due_offsets(0, 1.0)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert open_load.percentile(values, 50) == 50.0
    assert open_load.percentile(values, 99) == 99.0
    assert open_load.percentile(values, 99.9) == 100.0
    assert open_load.percentile([7.0], 99) == 7.0
    assert math.isnan(open_load.percentile([], 50))


async def test_requests_leave_on_schedule_while_earlier_ones_are_unanswered() -> None:
    stall_s = 0.2

    handlers: list[asyncio.Task[None]] = []

    async def slow_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(stall_s)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the generator closed its connection
        finally:
            writer.close()  # each connection's writer closed on this loop, not left to the GC

    server = await asyncio.start_server(slow_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await open_load.run(f"http://127.0.0.1:{port}/v1/home", ["t1", "t2"], 100, 0.5, preopen=2)
    finally:
        server.close()
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
    assert result.scheduled == result.answered == 50
    assert result.non2xx == result.socket_errors == result.timeouts == 0
    # A closed loop on 2 connections would have had 2 in flight; 100/s for 0.2 s is 20.
    assert result.max_in_flight >= 15
    assert result.p50_ms >= 1000 * stall_s
