"""A circuit breaker per integration service: closed → open after N consecutive failed tries → half-open
after the reset time (exactly one trial try) → closed on its success, open again on its failure.

Hand-written (about 60 lines) rather than taken from a library: ``purgatory`` (asyncio, maintained) was
the candidate, but its half-open state lets every concurrent request through — with 64 requests in flight
per service a recovering service would get the whole burst instead of one trial — and it times the open
state with the wall clock (``time.time()``), so a clock step would shorten or stretch it. ``aiobreaker`` is
unmaintained since 2021; ``pybreaker``'s async support needs Tornado. No I/O here: the transport asks
``allow()`` before each try and reports how it ended, so the transitions are unit-tested with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

State = Literal["closed", "open", "half-open"]


class Breaker:
    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.state: State = "closed"
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self.times_opened = 0
        self._trial = False  # half-open: the one trial try is under way

    def allow(self) -> bool:
        """May a try be sent now? Open: no, until the reset time has passed; then one trial (half-open)."""
        if self.state == "closed":
            return True
        if self.state == "open" and self.clock() - self.opened_at >= self.reset_seconds:
            self.state, self._trial = "half-open", True
            return True
        return False  # open, or half-open with its trial under way

    def success(self) -> None:
        if self.state == "half-open" and self._trial:
            self.state, self._trial = "closed", False
        if self.state == "closed":
            self.consecutive_failures = 0
        # open: an answer to a try sent before it opened changes nothing; the trial decides

    def failure(self) -> None:
        if self.state == "half-open" and self._trial:
            self._open()
        elif self.state == "closed":
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.threshold:
                self._open()

    def abandon(self) -> None:
        """A try ended without an answer either way (cancelled): a trial's place goes to the next caller."""
        if self.state == "half-open" and self._trial:
            self.state, self._trial = "open", False
            self.opened_at = self.clock() - self.reset_seconds

    def _open(self) -> None:
        self.state, self._trial = "open", False
        self.opened_at = self.clock()
        self.times_opened += 1

    def as_dict(self) -> dict[str, Any]:
        retry_in = max(0.0, self.opened_at + self.reset_seconds - self.clock()) if self.state == "open" else None
        return {"state": self.state, "consecutiveFailures": self.consecutive_failures,
                "timesOpened": self.times_opened, "retryInSeconds": retry_in}
