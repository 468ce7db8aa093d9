import asyncio

import pytest

from shared import Deadline, FanOut, UpstreamTimeout, UpstreamUnavailable


async def value_after(value: object, delay: float = 0) -> object:
    await asyncio.sleep(delay)
    return value


async def fail_after(error: Exception, delay: float = 0) -> object:
    await asyncio.sleep(delay)
    raise error


def down(name: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(name, "op", "connection refused")


async def test_all_sections_succeed_with_nothing_degraded() -> None:
    async with FanOut(Deadline.after(1)) as fan:
        a = fan.required("a", value_after(1))
        b = fan.optional("b", value_after(2), default=0)
    assert (a.value, b.value, fan.degraded) == (1, 2, [])


async def test_sections_run_concurrently() -> None:
    started = asyncio.Event()

    async def waits_for_sibling() -> str:
        await asyncio.wait_for(started.wait(), 1)
        return "saw sibling"

    async def signals() -> str:
        started.set()
        return "signalled"

    async with FanOut(Deadline.after(1)) as fan:
        a = fan.required("a", waits_for_sibling())
        b = fan.required("b", signals())
    assert (a.value, b.value) == ("saw sibling", "signalled")


async def test_failed_optional_section_uses_default_and_is_named_degraded() -> None:
    async with FanOut(Deadline.after(1)) as fan:
        a = fan.required("profile", value_after("anna"))
        recs = fan.optional("recommendations", fail_after(down("recommendations")), default=[])
    assert a.value == "anna"
    assert recs.value == []
    assert fan.degraded == ["recommendations"]


async def test_failed_required_section_raises_and_cancels_the_rest() -> None:
    slow = value_after("late", delay=5)
    with pytest.raises(UpstreamUnavailable):
        async with FanOut(Deadline.after(10)) as fan:
            fan.required("profile", fail_after(down("accounts")))
            other = fan.optional("other", slow, default=None)
    await asyncio.sleep(0)
    assert other._task.cancelled()


async def test_deadline_degrades_unfinished_optional_sections() -> None:
    async with FanOut(Deadline.after(0.05)) as fan:
        fast = fan.required("fast", value_after(1))
        slow = fan.optional("slow", value_after(2, delay=5), default=-1)
    assert (fast.value, slow.value) == (1, -1)
    assert fan.degraded == ["slow"]


async def test_deadline_on_a_required_section_is_a_timeout() -> None:
    with pytest.raises(UpstreamTimeout):
        async with FanOut(Deadline.after(0.05)) as fan:
            fan.required("slow", value_after(1, delay=5))


async def test_an_error_inside_the_block_cancels_started_sections() -> None:
    with pytest.raises(ValueError, match="boom"):
        async with FanOut(Deadline.after(1)) as fan:
            section = fan.required("a", value_after(1, delay=5))
            raise ValueError("boom")
    await asyncio.sleep(0)
    assert section._task.cancelled()
