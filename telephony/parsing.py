"""Provider payloads in, normalised call events out — no I/O, so every rule here is unit-tested on raw
bytes. Also the one place that decides whether a provider failure is worth retrying."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import msgspec


class ProviderEvent(msgspec.Struct, frozen=True):
    id: int
    type: Literal["call.started", "call.ended"]
    sessionId: str
    callId: str
    taskId: str
    externalId: str
    to: str
    at: datetime


class Rejected(msgspec.Struct, frozen=True):
    """An event on a page that we cannot use: its raw bytes, why, and its id if it has one (the cursor
    moves past it, so one bad event never blocks the operator's later calls)."""

    raw: bytes
    reason: str
    id: int | None = None


class EventsPage(msgspec.Struct, frozen=True):
    events: list[ProviderEvent]
    next: int
    rejected: list[Rejected] = []


class ProviderTask(msgspec.Struct, frozen=True):
    taskId: str
    status: Literal["NEW", "IN_PROGRESS", "DONE", "CANCELLED"]
    externalId: str = ""
    phone: str = ""
    idempotencyKey: str | None = None


class TaskList(msgspec.Struct, frozen=True):
    tasks: list[ProviderTask]


class ProviderCall(msgspec.Struct, frozen=True):
    callId: str
    status: Literal["IN_PROGRESS", "ENDED"]
    endedAt: datetime | None = None


class _RawPage(msgspec.Struct):
    events: list[msgspec.Raw]
    next: int


class _Id(msgspec.Struct):
    id: int


_page = msgspec.json.Decoder(_RawPage)
_event = msgspec.json.Decoder(ProviderEvent)
_id = msgspec.json.Decoder(_Id)
_task = msgspec.json.Decoder(ProviderTask)
_tasks = msgspec.json.Decoder(TaskList)
_call = msgspec.json.Decoder(ProviderCall)


def parse_events_page(raw: bytes) -> EventsPage:
    """Each event is parsed on its own: a page with one unknown or broken event still yields the rest.
    A page that is not a page at all raises msgspec.DecodeError (the provider answered garbage)."""
    page = _page.decode(raw)
    events: list[ProviderEvent] = []
    rejected: list[Rejected] = []
    for item in page.events:
        try:
            events.append(_event.decode(item))
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            try:
                event_id: int | None = _id.decode(item).id
            except msgspec.DecodeError:
                event_id = None
            rejected.append(Rejected(bytes(item), str(exc), event_id))
    return EventsPage(events, page.next, rejected)


def parse_task(raw: bytes) -> ProviderTask:
    return _task.decode(raw)


def parse_task_list(raw: bytes) -> list[ProviderTask]:
    return _tasks.decode(raw).tasks


def parse_call(raw: bytes) -> ProviderCall:
    return _call.decode(raw)


def normalize_phone(value: str) -> str | None:
    """Provider numbers come as "+7 (999) 123-45-67", "89991234567" or "79991234567"; ours are 11 digits."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    return digits if len(digits) == 11 else None


def in_order(events: list[ProviderEvent]) -> list[ProviderEvent]:
    """The provider's own order (by id), each event once: it may list duplicates or a call's end first."""
    seen: dict[int, ProviderEvent] = {}
    for event in events:
        seen.setdefault(event.id, event)
    return [seen[i] for i in sorted(seen)]


def to_call_event(event: ProviderEvent, operator_id: int, polled_at: datetime) -> dict[str, Any] | None:
    """The backend's CallEvent, or None for a call that is not one of our campaign tasks (dead-lettered)."""
    phone = normalize_phone(event.to)
    if phone is None or not event.externalId.isdigit():
        return None
    return {
        "eventId": f"provider-{event.id}",  # deterministic: a re-read event is a duplicate downstream
        "type": "CALL_STARTED" if event.type == "call.started" else "CALL_ENDED",
        "callId": event.callId,
        "operatorId": operator_id,
        "campaignTaskId": int(event.externalId),
        "phone": phone,
        "occurredAt": event.at.isoformat(),
        "polledAt": polled_at.isoformat(),
    }


Verdict = Literal["retry", "session_expired", "fatal"]


def classify(status: int | None, code: str | None = None) -> Verdict:
    """Retry what may pass by itself (no answer, timeouts, 5xx, 429, 408); re-open an expired session;
    everything else is our request's fault and retrying it cannot help."""
    if status is None or status >= 500 or status in (408, 429):
        return "retry"
    if status == 401 and code == "SESSION_EXPIRED":
        return "session_expired"
    return "fatal"
