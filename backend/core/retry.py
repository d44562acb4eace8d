"""The one retry policy: jittered exponential backoff from ``stamina`` (0.2 s doubling to 5 s, with up to
0.5 s of jitter), and the two ways the code uses it.

* ``retrying(on)`` — retry one operation until it succeeds or fails with something ``on`` rejects
  (a provider command: retry "no answer" and 5xx, stop on a final 4xx); ``attempts=`` bounds the tries
  (an integration request: a few tries, then the lead's check is an ERROR). ``on`` may answer a number of
  seconds instead of True: that wait, not the backoff's (a provider's ``Retry-After``).
* ``backoff(attempt)`` — the same policy's wait before the ``attempt``-th retry, for loops that keep many
  independent things going and cannot block in ``retrying`` (each polled operator backs off on its own).
* ``run_forever(name, body)`` — keep a background loop alive: whatever it raises, it is run again after
  the backoff (a dependency outage is logged as a warning, anything else with its traceback, so a bug is
  seen and never kills the loop quietly). The backoff starts again from 0.2 s once the loop has run
  ``healthy_after`` seconds without failing, so a blip after a quiet day is retried at once.

stamina also counts retries on ``/metrics`` (``stamina_retries_total``) where prometheus_client is loaded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import stamina
import stamina.instrumentation
from redis.exceptions import ResponseError

from backend.core.errors import DEPENDENCY_ERRORS

log = logging.getLogger("backend.retry")

# Our own log lines say what is retried and why; stamina's hook only counts (stamina_retries_total).
stamina.instrumentation.set_on_retry_hooks([stamina.instrumentation.PrometheusOnRetryHook])

WAIT: dict[str, float] = {"wait_initial": 0.2, "wait_max": 5.0, "wait_jitter": 0.5}
# A backing service is away (or restarted and lost a consumer group: Redis answers NOGROUP).
RETRYABLE: tuple[type[Exception], ...] = (*DEPENDENCY_ERRORS, ResponseError)


def retrying(on: type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool | float], *,
             attempts: int | None = None, timeout: float | None = None) -> Any:
    """``async for attempt in retrying(on): with attempt: ...`` — by default no limit on attempts or time;
    ``attempts`` (tries in all) or ``timeout`` (seconds in all) bound it for a caller that must answer soon
    (an integration check: after its tries the lead gets an ERROR instead of waiting), and then the last
    failure is raised."""
    return stamina.retry_context(on=on, attempts=attempts, timeout=timeout, **WAIT)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): stamina's jittered exponential formula
    with ``WAIT``'s numbers, 0.2 s doubling up to 5 s plus up to 0.5 s of jitter."""
    wait = WAIT["wait_initial"] * 2.0 ** min(max(attempt, 1) - 1, 30) + random.uniform(0, WAIT["wait_jitter"])  # noqa: S311
    return min(wait, WAIT["wait_max"])


@dataclass
class LoopStatus:
    """How a background loop is doing, for /health: never dead, but possibly failing over and over."""

    restarts: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    last_failure_at: float = 0.0  # time.time()

    def as_dict(self, now: float) -> dict[str, Any]:
        recent = now - self.last_failure_at < HEALTHY_AFTER
        state = "failing" if self.consecutive_failures >= 3 else "recovering" if recent else "ok"
        return {"state": state, "restarts": self.restarts, "consecutiveFailures": self.consecutive_failures,
                "lastError": self.last_error or None}


HEALTHY_AFTER = 30.0
LOOPS: dict[str, LoopStatus] = {}


def beat(name: str) -> None:
    """A loop says it just did a round of work fine: its failure streak is over."""
    status = LOOPS.get(name)
    if status is not None:
        status.consecutive_failures = 0


def loop_health() -> dict[str, dict[str, Any]]:
    """Every background loop of this process by name; ``state`` is ok, recovering or failing."""
    now = time.time()
    return {name: status.as_dict(now) for name, status in sorted(LOOPS.items())}


class _Healthy(Exception):
    """The loop failed after running healthy long enough: start the backoff over."""


async def run_forever(name: str, body: Callable[[], Awaitable[Any]], *, healthy_after: float = HEALTHY_AFTER,
                      expected: tuple[type[Exception], ...] = RETRYABLE) -> NoReturn:
    """``expected`` failures (a service away) are logged in one line; anything else with its traceback."""
    status = LOOPS.setdefault(name, LoopStatus())

    def worth_retrying(exc: Exception) -> bool:
        if not isinstance(exc, Exception) or isinstance(exc, _Healthy):  # stamina asks about BaseExceptions too
            return False  # cancellation (shutdown) ends the loop; _Healthy restarts the backoff (below)
        status.restarts += 1
        status.consecutive_failures += 1
        status.last_error, status.last_failure_at = f"{type(exc).__name__}: {exc}"[:300], time.time()
        if isinstance(exc, expected):
            log.warning("%s: %s: %s; retrying", name, type(exc).__name__, exc)
        else:
            log.error("%s failed; restarting it", name, exc_info=exc)
        return True

    while True:
        try:
            async for attempt in retrying(worth_retrying):
                with attempt:
                    started = time.monotonic()
                    try:
                        await body()
                        log.error("%s returned; restarting it", name)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        if time.monotonic() - started < healthy_after:
                            raise
                        status.consecutive_failures = 0
                        worth_retrying(exc)
                        raise _Healthy from exc
        except _Healthy:
            continue


async def every(name: str, seconds: float, one_pass: Callable[[], Awaitable[Any]]) -> NoReturn:
    """Run ``one_pass`` every ``seconds``; a pass that fails is retried under ``run_forever``'s policy."""

    async def loop() -> None:
        while True:
            await one_pass()
            beat(name)
            await asyncio.sleep(seconds)

    await run_forever(name, loop)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Stop background tasks and wait until each has ended (its ``finally`` ran), all cancelled first so
    they end together. One that had already died of an error is logged with its traceback, never raised: the
    stop goes on, and nothing dies quietly."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except RETRYABLE as exc:  # a service away: one line, as run_forever says it
            log.warning("%s ended: %s: %s", _name(task), type(exc).__name__, exc)
        except Exception:
            log.exception("%s ended with an error", _name(task))


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else "a future"
