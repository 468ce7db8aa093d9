from shared import RetryPolicy
from shared.resilience.budget import RetryBudget
from tests.shared.resilience.clock import ManualClock

POLICY = RetryPolicy(budget_ratio=0.2, budget_min_retries=3, budget_window=10)


def test_allows_the_minimum_with_no_calls() -> None:
    budget = RetryBudget(POLICY, ManualClock())
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_allows_exactly_ratio_times_calls_plus_minimum() -> None:
    budget = RetryBudget(POLICY, ManualClock())
    for _ in range(100):
        budget.record_call()
    spent = sum(budget.try_spend() for _ in range(50))
    assert spent == 23
    assert budget.exhausted == 27


def test_budget_refills_as_the_window_slides() -> None:
    clock = ManualClock()
    budget = RetryBudget(POLICY, clock)
    assert sum(budget.try_spend() for _ in range(5)) == 3
    clock.advance(10)
    assert budget.try_spend()
