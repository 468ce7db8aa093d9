from shared import Deadline


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_remaining_counts_down_with_the_clock() -> None:
    clock = FakeClock()
    deadline = Deadline.after(2.0, clock)
    clock.now += 0.5
    assert deadline.remaining() == 1.5
    assert not deadline.expired


def test_remaining_never_goes_negative_and_expires() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    clock.now += 5
    assert deadline.remaining() == 0.0
    assert deadline.expired


def test_cap_takes_the_smaller_of_timeout_and_remaining() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    assert deadline.cap(0.3) == 0.3
    clock.now += 0.9
    assert round(deadline.cap(0.3), 6) == 0.1
