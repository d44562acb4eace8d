"""A campaign's rules, as the admin API takes them and as each version stores them (seed 001 Рисунок 25).

Field names are the seed's (kebab-case: ``filters-order``, ``ml-skip-error`` ...), so its example config can be
pasted in. Everything is checked on save: msgspec bounds, then ``__post_init__`` for what bounds cannot say
(regexes, ranges, duplicates, time zones, the taxonomy tree); a bad value is a 400 whose field is the JSON path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

from backend.core.types import Str, invalid
from backend.rules.templates import TemplateError, compile_templates

INTERNAL_FILTERS = ("REQUEST_STATUS", "RESIDENCE", "AGE", "PHONE_TEMPLATE", "GRACE", "CLIENT_TYPE",
                    "DO_NOT_CALL", "BOOKED")
ML_FILTERS = ("ML_DEVICE", "ML_PHONE", "ML_FACE", "ML_DOCUMENT")
INTEGRATION_FILTERS = ("PHONE_BLACK_LIST", *ML_FILTERS, "AVAILABLE_PRODUCTS", "CLIENT_DATA")
# Always applied: a campaign that does not list them gets them at the end of its order (the law and the other
# campaigns' reservations are not optional); the hand-over checks do-not-call again before each dial.
ALWAYS = ("DO_NOT_CALL", "BOOKED")

FilterName = Literal["REQUEST_STATUS", "RESIDENCE", "AGE", "PHONE_TEMPLATE", "GRACE", "CLIENT_TYPE",
                     "DO_NOT_CALL", "BOOKED", "PHONE_BLACK_LIST", "ML_DEVICE", "ML_PHONE", "ML_FACE",
                     "ML_DOCUMENT", "AVAILABLE_PRODUCTS", "CLIENT_DATA"]
RequestStatus = Literal["created", "registered", "scored", "canceled"]
ClientType = Literal["pioneer", "repeater"]
# What a call's result means for the task (the taxonomy's statuses and first levels carry one).
Outcome = Literal["SUCCESS", "REFUSAL", "NO_ANSWER", "BUSY", "DROPPED", "DO_NOT_CALL"]
RECALL_OUTCOMES = ("NO_ANSWER", "BUSY", "DROPPED")

StreamName = Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
Country = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3")]
Template = Annotated[Str, Meta(min_length=1, max_length=200)]
Product = Annotated[Str, Meta(min_length=1, max_length=64)]
Key = Annotated[Str, Meta(min_length=1, max_length=64)]
Label = Annotated[Str, Meta(min_length=1, max_length=200)]
Clock = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")]
Minutes = Annotated[int, Meta(ge=1, le=60 * 24 * 30)]
Day = Annotated[int, Meta(ge=1, le=7, description="ISO weekday: 1 = Monday")]


class Level2(msgspec.Struct, forbid_unknown_fields=True):
    key: Key
    label: Label | None = None


class Level1(msgspec.Struct, forbid_unknown_fields=True):
    key: Key
    label: Label | None = None
    outcome: Outcome | None = None  # overrides the status's
    children: Annotated[list[Level2], Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        _unique([c.key for c in self.children], "children")


class Status(msgspec.Struct, forbid_unknown_fields=True):
    key: Key
    outcome: Outcome
    label: Label | None = None
    children: Annotated[list[Level1], Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        _unique([c.key for c in self.children], "children")


class CallingHours(msgspec.Struct, forbid_unknown_fields=True, rename={"start": "from", "end": "to"}):
    start: Clock = "09:00"
    end: Clock = "21:00"

    def bounds(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class RecallDelays(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    """Minutes from the end of an unsuccessful call to the next attempt (then moved into calling hours)."""

    no_answer: Minutes = 60
    busy: Minutes = 15
    dropped: Minutes = 5

    def for_outcome(self, outcome: str) -> int:
        return {"NO_ANSWER": self.no_answer, "BUSY": self.busy, "DROPPED": self.dropped}[outcome]


class RulesConfig(msgspec.Struct, forbid_unknown_fields=True, rename="kebab", kw_only=True):
    data_streams: Annotated[list[StreamName], Meta(min_length=1, max_length=32)]
    request_statuses: Annotated[list[RequestStatus], Meta(max_length=4)] = msgspec.field(
        default_factory=lambda: ["registered", "scored"])
    filters_order: Annotated[list[FilterName], Meta(max_length=15)] = []
    ml_skip_error: bool = False
    citizenship_unavailable_countries: Annotated[list[Country], Meta(max_length=300)] = []
    min_age: Annotated[int, Meta(ge=0, le=150)] | None = None
    max_age: Annotated[int, Meta(ge=0, le=150)] | None = None
    phone_templates: Annotated[list[Template], Meta(max_length=100)] = []
    grace_min_days: Annotated[int, Meta(ge=0, le=3650)] | None = None
    grace_max_days: Annotated[int, Meta(ge=0, le=3650)] | None = None
    available_products: Annotated[list[Product], Meta(max_length=100)] = []
    client_types: Annotated[list[ClientType], Meta(max_length=2)] = msgspec.field(
        default_factory=lambda: ["pioneer", "repeater"])
    time_zone: Annotated[str, Meta(min_length=1, max_length=64)] = "Europe/Moscow"
    calling_hours: CallingHours = msgspec.field(default_factory=CallingHours)
    calling_days: Annotated[list[Day], Meta(min_length=1, max_length=7)] = msgspec.field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 3
    recall_delay_minutes: RecallDelays = msgspec.field(default_factory=RecallDelays)
    priority: Annotated[int, Meta(ge=0, le=1000)] = 0
    result_taxonomy: Annotated[list[Status], Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        _unique(self.data_streams, "data-streams")
        if self.calling_hours.start >= self.calling_hours.end:
            raise invalid("calling-hours.to", "Calling hours must end after they start")
        _unique(self.filters_order, "filters-order")
        _unique([s.key for s in self.result_taxonomy], "result-taxonomy")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise invalid("max-age", "max-age must not be below min-age")
        if (self.grace_min_days is not None and self.grace_max_days is not None
                and self.grace_min_days > self.grace_max_days):
            raise invalid("grace-max-days", "grace-max-days must not be below grace-min-days")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("time-zone", "Not an IANA time zone such as Europe/Moscow") from None
        try:
            compile_templates(self.phone_templates)
        except TemplateError as exc:
            raise invalid(f"phone-templates[{exc.index}]", exc.message) from None
        if "AVAILABLE_PRODUCTS" in self.filters_order and not self.available_products:
            raise invalid("available-products", "AVAILABLE_PRODUCTS is in filters-order: list the products")

    def effective_order(self) -> list[str]:
        """The filters run, in order: the configured ones, then the always-on ones not listed."""
        return [*self.filters_order, *(f for f in ALWAYS if f not in self.filters_order)]

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _unique(values: Sequence[object], field: str) -> None:
    seen: set[object] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise invalid(f"{field}[{index}]", f"{value!r} is listed twice")
        seen.add(value)


def decode(raw: bytes | dict[str, object]) -> RulesConfig:
    """A stored version's config (already validated when it was saved)."""
    if isinstance(raw, bytes):
        return msgspec.json.decode(raw, type=RulesConfig)
    return msgspec.convert(raw, RulesConfig)


def encode(config: RulesConfig) -> dict[str, object]:
    out: dict[str, object] = msgspec.to_builtins(config)
    return out
