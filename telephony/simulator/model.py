"""The simulated provider's records, its settings and fault switches, and the id scheme of one start."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_EVENT_ID = 2**53  # event ids stay exact in JavaScript and in a float


@dataclass
class Session:
    id: str
    login: str
    last_request: float
    events: deque[Any]  # dicts as emitted; raw ones (POST /_event) may be any JSON value
    status: str = "READY"
    on_call: str | None = None
    busy_until: float = 0.0  # after-call work ends (fallback when the adapter reports nothing)
    wrap_up: bool = False


@dataclass
class Task:
    id: str
    external_id: str
    phone: str
    idempotency_key: str | None = None
    status: str = "NEW"  # NEW, IN_PROGRESS, DONE, CANCELLED
    created: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> bool:
        return self.status in ("DONE", "CANCELLED")


@dataclass
class Call:
    id: str
    session: Session
    task: Task
    started_at: str
    ended_at: str | None = None
    timer: asyncio.Task[None] | None = None  # the hang-up at the end of the talk time


@dataclass
class Config:
    talk_seconds: tuple[float, float] = (3.0, 8.0)
    wrap_up_fallback_seconds: float = 90.0
    session_idle_seconds: float = 900.0
    dial_interval_seconds: float = 0.2
    auto_dial: bool = True
    max_requests: int = 10_000  # GET /_requests keeps the last this many (SIM_REQUEST_LOG)
    max_session_events: int = 1_000  # each session lists at most its last this many events
    max_finished: int = 50_000  # finished tasks (and ended calls) kept; older ones are forgotten


@dataclass
class Faults:
    fail_next: int = 0  # the next N provider API requests answer 503
    fail_rate: float = 0.0  # or this share of them
    delay_seconds: float = 0.0  # each provider API request waits this long first (timeouts)
    duplicate_events: bool = False  # every event is listed twice
    reorder_events: bool = False  # a call's end is listed before its start
    malformed_next: int = 0  # the next N event listings each gain one event that does not parse
    drop_end_of: set[str] = field(default_factory=set)  # these calls' call.ended is never listed
    task_answer_delay_seconds: float = 0.0  # POST /tasks creates the task at once but answers this late
    fail_paths: list[str] = field(default_factory=list)  # requests to these paths answer 503
    refuse_phones: list[str] = field(default_factory=list)  # POST /tasks for these numbers: 422 NUMBER_BLOCKED
    throttle_paths: dict[str, float] = field(default_factory=dict)  # path suffix -> 429 with this Retry-After
    delay_paths: dict[str, float] = field(default_factory=dict)  # path suffix -> each request waits this long


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def new_epoch() -> str:
    """A token for one start: the second it began (base 36) and 16 random bits, e.g. "t1x2k9a3f0"."""
    return _base36(int(time.time())) + secrets.token_hex(2)


class Ids:
    """Ids of one start. Sessions, calls and tasks carry the epoch (``call-<epoch>-7``); event ids are
    integers counted up from the start's wall-clock millisecond x 1000, so they increase within a start
    and do not repeat across starts unless one start averaged over 1000 events a millisecond."""

    def __init__(self, after_event: int = 0) -> None:
        self.epoch = new_epoch()
        self._n = itertools.count(1)
        first = max(int(time.time() * 1000) * 1000, after_event + 1)
        self._events = itertools.count(first)
        self.last_event = first - 1

    def next(self, prefix: str) -> str:
        return f"{prefix}-{self.epoch}-{next(self._n)}"

    def next_event(self) -> int:
        self.last_event = next(self._events)
        assert self.last_event < MAX_EVENT_ID
        return self.last_event

    def seen(self, given: int) -> None:
        """An id given from outside (POST /_event): later ones count on from it, so they stay increasing."""
        if self.last_event < given < MAX_EVENT_ID // 2:
            self._events = itertools.count(given + 1)
            self.last_event = given


def event_id(event: Any) -> int | None:
    """An event's integer id, or None for garbage without one."""
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def listing(events: deque[Any], after: int, limit: int) -> tuple[list[Any], int]:
    """The events stored after the cursor (by position: garbage without an integer id is listed with its
    neighbours) and the new cursor, the last integer id listed. Searched from the newest back, so the usual
    poll (nothing new) costs the same however many events the session keeps."""
    start = 0
    for back, event in enumerate(reversed(events)):
        eid = event_id(event)
        if eid is not None and eid <= after:
            start = len(events) - back
            break
    if start >= len(events):
        return [], after
    page = list(itertools.islice(events, start, start + max(limit, 0)))
    ids = [i for i in map(event_id, page) if i is not None]
    return page, ids[-1] if ids else after
