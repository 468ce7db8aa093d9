import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from shared import Deadline, FanOut, UpstreamTimeout, UpstreamUnavailable
from shared.fanout import own_task


async def value_after(value: object, delay: float = 0) -> object:
    await asyncio.sleep(delay)
    return value


async def fail_after(error: Exception, delay: float = 0) -> object:
    await asyncio.sleep(delay)
    raise error


Work = Coroutine[Any, Any, object]


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
    assert other._task is not None and other._task.cancelled()


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
    assert section._task is not None and section._task.cancelled()


# Nested fan-outs: a section whose work fans out again (stock inside product cards).


async def cards(stock: Work, catalog: Work | None = None) -> dict[str, object]:
    """A section that fans out itself: catalog required, stock optional."""
    async with FanOut(Deadline.after(1)) as fan:
        products = fan.required("catalog", catalog or value_after(["p1", "p2"]))
        levels = fan.optional("stock", stock, default=None)
    return {"products": products.value, "stock": levels.value}


async def test_a_nested_optional_fallback_is_named_under_its_enclosing_section() -> None:
    async with FanOut(Deadline.after(1)) as fan:
        recs = fan.optional("recommendations", cards(fail_after(down("inventory"))), default={})
    assert recs.value == {"products": ["p1", "p2"], "stock": None}
    assert fan.degraded == ["recommendations.stock"]


async def test_fallbacks_are_named_however_deep_they_are() -> None:
    async def level(depth: int) -> object:
        async with FanOut(Deadline.after(1)) as fan:
            inner = fan.optional(f"l{depth}", level(depth + 1) if depth < 3 else fail_after(down("x")), default=0)
        return inner.value

    async with FanOut(Deadline.after(1)) as fan:
        fan.optional("l0", level(1), default=-1)
    assert fan.degraded == ["l0.l1.l2.l3"]


async def test_a_nested_required_failure_degrades_the_enclosing_section_by_its_name_only() -> None:
    async with FanOut(Deadline.after(1)) as fan:
        recs = fan.optional(
            "recommendations", cards(fail_after(down("inventory")), catalog=fail_after(down("catalog"))), default={}
        )
    assert recs.value == {}
    assert fan.degraded == ["recommendations"]


async def test_an_enclosing_section_failing_after_a_nested_fallback_is_named_alone() -> None:
    async def cards_then_fail() -> object:
        await cards(fail_after(down("inventory")))
        raise down("recommendations")

    async with FanOut(Deadline.after(1)) as fan:
        fan.optional("recommendations", cards_then_fail(), default=[])
    assert fan.degraded == ["recommendations"]


async def test_nested_fallbacks_of_sibling_sections_are_listed_in_declaration_order() -> None:
    async with FanOut(Deadline.after(1)) as fan:
        fan.optional("related", cards(fail_after(down("inventory"), delay=0.02)), default={})
        fan.optional("stock", fail_after(down("inventory")), default=None)
        fan.optional("recommendations", cards(fail_after(down("inventory"))), default={})
    assert fan.degraded == ["related.stock", "stock", "recommendations.stock"]


async def test_nested_fan_outs_run_concurrently_in_one_section_name_a_fallback_once() -> None:
    async def many_cards() -> list[object]:
        return list(await asyncio.gather(*(cards(fail_after(down("inventory"))) for _ in range(3))))

    async with FanOut(Deadline.after(1)) as fan:
        fan.optional("orders", many_cards(), default=[])
    assert fan.degraded == ["orders.stock"]


async def test_a_fan_out_after_another_in_the_same_task_is_not_nested_in_it() -> None:
    async with FanOut(Deadline.after(1)) as first:
        first.optional("lines", fail_after(down("orders")), default=[])
    async with FanOut(Deadline.after(1)) as second:
        second.optional("products", fail_after(down("catalog")), default=[])
    assert (first.degraded, second.degraded) == (["lines"], ["products"])


async def test_a_nested_section_past_the_deadline_is_named_under_its_enclosing_section() -> None:
    async def slow_stock_cards() -> object:
        async with FanOut(Deadline.after(0.05)) as fan:
            fan.optional("stock", value_after({}, delay=5), default=None)
        return "cards"

    async with FanOut(Deadline.after(1)) as fan:
        recs = fan.optional("recommendations", slow_stock_cards(), default=None)
    assert (recs.value, fan.degraded) == ("cards", ["recommendations.stock"])


# Sections run at once, in the caller's task, up to their first wait.


async def at_once(value: object) -> object:
    return value


async def test_a_section_answered_without_waiting_is_done_before_the_next_starts_and_makes_no_task() -> None:
    loop = asyncio.get_running_loop()
    tasks: list[object] = []
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        tasks.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    try:
        async with FanOut(Deadline.after(1)) as fan:
            a = fan.required("a", at_once("hit"))
            assert a.value == "hit"  # already done: it never waited
            b = fan.optional("b", value_after("waited"), default=None)
    finally:
        loop.set_task_factory(previous)
    assert (a.value, b.value) == ("hit", "waited")
    assert len(tasks) == 1  # only the section that waited got a task


async def test_a_section_failing_without_waiting_is_judged_when_the_block_ends() -> None:
    async def fails_at_once() -> object:
        raise down("recommendations")

    async with FanOut(Deadline.after(1)) as fan:
        recs = fan.optional("recommendations", fails_at_once(), default=[])
        profile = fan.required("profile", at_once("anna"))
    assert (recs.value, profile.value, fan.degraded) == ([], "anna", ["recommendations"])
    with pytest.raises(UpstreamUnavailable):
        async with FanOut(Deadline.after(1)) as fan:
            fan.required("profile", fails_at_once())


async def test_work_past_own_task_runs_in_the_sections_own_task_so_its_timeouts_bind_there() -> None:

    caller = asyncio.current_task()
    seen: list[object] = []

    async def bound_to_its_task() -> str:
        seen.append(asyncio.current_task())  # before own_task: the caller's
        await own_task()
        seen.append(asyncio.current_task())
        try:
            async with asyncio.timeout(0.01):  # would cancel the caller if entered in its task
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out alone"
        return "not reached"

    async with FanOut(Deadline.after(1)) as fan:
        section = fan.required("a", bound_to_its_task())
    assert section.value == "timed out alone"
    assert seen[0] is caller and seen[1] is not caller and seen[1] is not None
    await asyncio.sleep(0.02)  # the caller was not cancelled by the section's timeout


async def test_tasks_a_section_starts_before_its_first_wait_run_as_they_are() -> None:

    async def child(value: int) -> int:
        await own_task()  # a task of its own already: nothing to move
        await asyncio.sleep(0)
        return value

    async def gathers() -> list[int]:
        return list(await asyncio.gather(child(1), child(2)))

    async with FanOut(Deadline.after(1)) as fan:
        both = fan.required("both", gathers())
    assert both.value == [1, 2]


async def test_own_task_outside_a_fan_out_does_nothing() -> None:

    caller = asyncio.current_task()
    await own_task()
    assert asyncio.current_task() is caller


async def test_a_section_cancelled_before_its_task_ran_unwinds_and_cancels_what_it_waits_on() -> None:
    unwound: list[str] = []

    async def child() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            unwound.append("child")
            raise

    async def gathers() -> None:
        try:
            await asyncio.gather(child())  # waits on the gather before its task exists
        except asyncio.CancelledError:
            unwound.append("section")
            raise

    async def fails_at_once() -> object:
        raise down("profile")

    with pytest.raises(UpstreamUnavailable):
        async with FanOut(Deadline.after(1)) as fan:
            waiting = fan.required("children", gathers())
            fan.required("profile", fails_at_once())  # cancels "children" before its task ran
    for _ in range(3):
        await asyncio.sleep(0)
    assert waiting._task is not None and waiting._task.cancelled()
    assert sorted(unwound) == ["child", "section"]  # nothing left running past the fan-out
