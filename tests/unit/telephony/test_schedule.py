"""The poller's schedule and the provider client's pacing, without I/O."""

from __future__ import annotations

import asyncio
import itertools
import time
from email.utils import formatdate

import pytest

from backend.core.retry import WAIT, backoff
from telephony.polling import next_slot, phase
from telephony.provider import MAX_RETRY_AFTER, Pacer, retry_after
from telephony.sessions import availability


@pytest.mark.parametrize("n", [7, 100, 1000, 2000])
def test_consecutive_operators_are_spread_over_the_interval(n):
    interval = 0.5
    phases = sorted(phase(op, interval) for op in range(1000, 1000 + n))
    gaps = [b - a for a, b in itertools.pairwise(phases)] + [phases[0] + interval - phases[-1]]
    assert all(0 <= p < interval for p in phases)
    assert max(gaps) < 3 * interval / n  # a burst would leave one gap of nearly the whole interval


def test_next_slot_keeps_the_phase():
    assert next_slot(10.0, 0.1, 0.5) == pytest.approx(10.1)
    assert next_slot(10.1, 0.1, 0.5) == pytest.approx(10.6)  # strictly later
    assert next_slot(12.37, 0.1, 0.5) == pytest.approx(12.6)
    assert phase(42, 0.5) == phase(42, 0.5)  # stable across restarts


def test_availability_of_a_workstation_state():
    assert availability("READY") == "READY"
    assert availability("ON_CALL") == availability("WRAP_UP") == availability("OFFLINE") == "BUSY"


def test_retry_after_in_seconds_or_as_a_date():
    assert retry_after("2") == 2.0
    assert retry_after("0.5") == 0.5
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after("-3") == 0.0 and retry_after("99999") == MAX_RETRY_AFTER
    assert 8 <= retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


def test_backoff_is_the_shared_policy():
    first = [backoff(1) for _ in range(200)]
    assert WAIT["wait_initial"] <= min(first) and max(first) <= WAIT["wait_initial"] + WAIT["wait_jitter"]
    assert all(backoff(50) <= WAIT["wait_max"] for _ in range(50))
    assert min(backoff(4) for _ in range(50)) >= WAIT["wait_initial"] * 8


async def test_pacer_spaces_requests_to_the_rate_cap():
    pacer = Pacer(200)  # 200/s: 5 ms apart
    started = time.monotonic()
    await asyncio.gather(*(pacer.turn() for _ in range(41)))
    assert time.monotonic() - started >= 0.19
    unlimited = Pacer(0)
    started = time.monotonic()
    await asyncio.gather(*(unlimited.turn() for _ in range(1000)))
    # Paced at any cap this would take seconds (1,000 turns at 200/s: 5 s); 1 s leaves room for a loaded
    # machine descheduling the test (it took 0.77 s once in the suite).
    assert time.monotonic() - started < 1.0
