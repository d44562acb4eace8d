"""The circuit breaker's transitions, on a fake clock."""

from __future__ import annotations

from backend.integrations.breaker import Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only():
    breaker = Breaker(3, 10, Clock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # the streak is broken
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.as_dict()["timesOpened"] == 1


def test_half_open_lets_exactly_one_trial_through_after_the_reset_time():
    clock = Clock()
    breaker = Breaker(1, 10, clock)
    breaker.failure()
    clock.now += 9.9
    assert not breaker.allow()
    assert breaker.as_dict()["retryInSeconds"] is not None
    clock.now += 0.1
    assert breaker.allow()  # the trial
    assert breaker.state == "half-open"
    assert not breaker.allow()  # everyone else still fails fast
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()
    assert breaker.consecutive_failures == 0


def test_a_failed_trial_opens_it_again_for_a_full_reset_time():
    clock = Clock()
    breaker = Breaker(1, 10, clock)
    breaker.failure()
    clock.now += 10
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    clock.now += 9
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()
    assert breaker.as_dict()["timesOpened"] == 2


def test_answers_to_tries_sent_before_it_opened_change_nothing():
    clock = Clock()
    breaker = Breaker(2, 10, clock)
    breaker.failure()
    breaker.failure()
    breaker.success()  # a slow request that was already out
    breaker.failure()
    assert breaker.state == "open" and breaker.as_dict()["timesOpened"] == 1


def test_an_abandoned_trial_lets_the_next_caller_try_at_once():
    clock = Clock()
    breaker = Breaker(1, 10, clock)
    breaker.failure()
    clock.now += 10
    assert breaker.allow()
    breaker.abandon()  # the trial was cancelled: no verdict on the service
    assert breaker.state == "open"
    assert breaker.allow() and breaker.state == "half-open"
