"""The breaker's outcome window: a count window cut short by time, boundaries exact."""

from shared.resilience.outcomes import OutcomeWindow


def window(max_calls: int = 10, min_calls: int = 4, recent: float = 1.0, max_age: float = 10.0) -> OutcomeWindow:
    return OutcomeWindow(max_calls=max_calls, min_calls=min_calls, recent=recent, max_age=max_age)


def totals(w: OutcomeWindow) -> tuple[int, int, int]:
    return w.calls, w.failures, w.slow


def test_holds_no_more_than_max_calls_of_the_latest_outcomes() -> None:
    w = window(max_calls=10)
    for _ in range(1000):
        w.add(0.0, failed=False, slow=False)
    for _ in range(5):
        w.add(0.0, failed=True, slow=True)
    assert totals(w) == (10, 5, 5)


def test_outcomes_past_the_recent_span_leave_down_to_the_minimum() -> None:
    w = window(min_calls=4, recent=1.0)
    for _ in range(8):
        w.add(0.0, failed=False, slow=False)
    w.add(0.999, failed=True, slow=False)
    assert w.calls == 9  # all within the recent second
    w.add(1.0, failed=True, slow=False)
    assert totals(w) == (4, 2, 0)  # the eight at 0.0 are a second old: kept only to make up four


def test_the_minimum_reaches_back_no_further_than_max_age() -> None:
    w = window(min_calls=4, max_age=10.0)
    for second in range(3):
        w.add(float(second), failed=True, slow=False)
    w.add(9.999, failed=False, slow=False)
    assert w.calls == 4
    w.add(10.0, failed=False, slow=False)
    assert totals(w) == (4, 2, 0)  # the one at 0.0 is ten seconds old: gone


def test_trim_forgets_what_time_alone_has_aged_out() -> None:
    w = window(max_age=10.0)
    w.add(0.0, failed=True, slow=False)
    w.trim(9.0)
    assert w.calls == 1
    w.trim(10.0)
    assert totals(w) == (0, 0, 0)


def test_an_outcome_still_in_the_window_can_be_marked_failed_once() -> None:
    w = window()
    number = w.add(0.0, failed=False, slow=True)
    assert w.mark_failed(number)
    assert w.mark_failed(number)
    assert totals(w) == (1, 1, 1)


def test_an_outcome_that_left_the_window_cannot_be_marked() -> None:
    w = window(max_calls=2)
    number = w.add(0.0, failed=False, slow=True)
    w.add(0.0, failed=False, slow=False)
    w.add(0.0, failed=False, slow=False)
    assert not w.mark_failed(number)
    assert totals(w) == (2, 0, 0)


def test_clear_empties_it_and_old_numbers_stay_out() -> None:
    w = window()
    number = w.add(0.0, failed=True, slow=True)
    w.clear()
    assert totals(w) == (0, 0, 0)
    assert not w.mark_failed(number)
    w.add(0.0, failed=False, slow=False)
    assert totals(w) == (1, 0, 0)
