"""The one retry policy: background loops survive outages and bugs, and stop on cancellation."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from backend.core.retry import cancel_and_wait, retrying, run_forever


async def test_a_loop_outlives_outages_and_bugs_with_growing_jittered_waits(caplog):
    calls: list[float] = []

    async def body():
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise ConnectionResetError("redis went away")
        if len(calls) == 4:
            raise KeyError("a bug")
        await asyncio.sleep(3600)

    caplog.set_level(logging.WARNING, "backend.retry")
    task = asyncio.create_task(run_forever("test loop", body))
    for _ in range(200):
        if len(calls) >= 5:
            break
        await asyncio.sleep(0.05)
    assert len(calls) == 5, "the loop was not restarted after each failure"
    waits = [b - a for a, b in itertools.pairwise(calls)]
    assert all(0.15 <= w <= 6.0 for w in waits), waits
    assert waits[2] > waits[0]  # exponential: 0.2 s, 0.4 s, 0.8 s (+ up to 0.5 s jitter)
    outage = [r for r in caplog.records if "ConnectionResetError" in r.getMessage()]
    bug = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], KeyError)]
    assert len(outage) == 3 and all(r.levelno == logging.WARNING for r in outage)
    assert len(bug) == 1 and bug[0].levelno == logging.ERROR  # a bug is logged with its traceback

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()  # shutdown is not "retried"


async def test_retrying_stops_on_a_final_error():
    attempts = 0

    class Final(Exception):
        pass

    async def flaky():
        nonlocal attempts
        attempts += 1
        raise (OSError("no answer") if attempts < 3 else Final("refused"))

    try:
        async for attempt in retrying(OSError):
            with attempt:
                await flaky()
    except Final:
        pass
    assert attempts == 3


async def test_a_stop_ends_every_task_and_names_one_that_had_died(caplog):
    ended: list[str] = []

    async def runs_until_cancelled(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append(name)

    async def dies() -> None:
        raise KeyError("a bug")

    tasks = [asyncio.create_task(runs_until_cancelled("a"), name="a"), asyncio.create_task(dies(), name="buggy"),
             asyncio.create_task(runs_until_cancelled("b"), name="b")]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks)  # raises nothing: the stop goes on
    assert sorted(ended) == ["a", "b"] and all(t.done() for t in tasks)
    assert [r.message for r in caplog.records if r.levelno == logging.ERROR] == ["buggy ended with an error"]
