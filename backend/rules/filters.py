"""The internal filters of the cascade, run over a whole batch at a time: each filter is one pass over one
column of the leads still in the running (no I/O here: do-not-call and bookings arrive as looked-up sets,
one query each per batch). A lead's first failure stops it; its verdict says which filter, why, and the
value that decided."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backend.rules.config import RulesConfig
from backend.rules.templates import matching


@dataclass(frozen=True)
class Verdict:
    outcome: str  # REJECTED | ERROR
    filter: str
    reason: str
    value: str | None = None


@dataclass
class Batch:
    """One batch of lead snapshots going through one campaign's cascade."""

    rows: Sequence[Any]  # asyncpg records (or mappings) of lead_snapshots
    verdicts: list[Verdict | None] = field(init=False)
    # Per lead: integration errors that must not decide the lead (non-ML): the batch is retried later.
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    enrichment: dict[int, dict[str, Any]] = field(default_factory=dict)
    integration_leads: dict[int, Any] = field(default_factory=dict)  # per lead: what the services are sent

    def __post_init__(self) -> None:
        self.verdicts = [None] * len(self.rows)

    def alive(self) -> list[int]:
        v = self.verdicts
        return [i for i in range(len(v)) if v[i] is None]

    def reject(self, index: int, filter_name: str, reason: str, value: object = None) -> None:
        self.verdicts[index] = Verdict("REJECTED", filter_name, reason, None if value is None else str(value))


@dataclass(frozen=True)
class Context:
    """What the internal filters need besides the leads: the config, today in the campaign's zone, the
    compiled phone templates, and the batch's do-not-call and booked phones."""

    config: RulesConfig
    today: date
    templates: Any | None
    dnc: dict[str, str]
    booked: dict[str, int]


def _column(batch: Batch, alive: list[int], name: str) -> list[Any]:
    rows = batch.rows
    return [rows[i][name] for i in alive]


def request_status(batch: Batch, ctx: Context, alive: list[int]) -> None:
    accepted = set(ctx.config.request_statuses)
    for i, status in zip(alive, _column(batch, alive, "application_status"), strict=True):
        if status not in accepted:
            batch.reject(i, "REQUEST_STATUS", "STATUS_NOT_ACCEPTED", status)


def residence(batch: Batch, ctx: Context, alive: list[int]) -> None:
    """A citizenship in the unavailable list rejects; an unknown one passes (format control lets it be empty)."""
    blocked = set(ctx.config.citizenship_unavailable_countries)
    if not blocked:
        return
    for i, country in zip(alive, _column(batch, alive, "citizenship"), strict=True):
        if country in blocked:
            batch.reject(i, "RESIDENCE", "COUNTRY_UNAVAILABLE", country)


def age(batch: Batch, ctx: Context, alive: list[int]) -> None:
    low, high = ctx.config.min_age, ctx.config.max_age
    if low is None and high is None:
        return
    today = ctx.today
    key = (today.month, today.day)
    for i, born in zip(alive, _column(batch, alive, "birth_date"), strict=True):
        if born is None:
            batch.reject(i, "AGE", "BIRTH_DATE_UNKNOWN")
            continue
        years = today.year - born.year - (key < (born.month, born.day))
        if low is not None and years < low:
            batch.reject(i, "AGE", "TOO_YOUNG", years)
        elif high is not None and years > high:
            batch.reject(i, "AGE", "TOO_OLD", years)


def phone_template(batch: Batch, ctx: Context, alive: list[int]) -> None:
    if ctx.templates is None:
        return
    for i, ok in zip(alive, matching(ctx.templates, _column(batch, alive, "phone")), strict=True):
        if not ok:
            batch.reject(i, "PHONE_TEMPLATE", "NO_TEMPLATE_MATCH")


DAYS_PER_UNIT = {"day": 1, "month": 30, None: 1}


def grace(batch: Batch, ctx: Context, alive: list[int]) -> None:
    """The loan's grace period (column 4.6, in days or months; a month counts 30 days) within the range."""
    low, high = ctx.config.grace_min_days, ctx.config.grace_max_days
    if low is None and high is None:
        return
    rows = batch.rows
    for i in alive:
        value, unit = rows[i]["grace"], rows[i]["grace_unit"]
        if value is None:
            batch.reject(i, "GRACE", "GRACE_UNKNOWN")
            continue
        days = value * DAYS_PER_UNIT.get(unit, 1)
        if (low is not None and days < low) or (high is not None and days > high):
            batch.reject(i, "GRACE", "GRACE_OUT_OF_RANGE", days)


def client_type(batch: Batch, ctx: Context, alive: list[int]) -> None:
    accepted = set(ctx.config.client_types)
    for i, kind in zip(alive, _column(batch, alive, "client_type"), strict=True):
        if kind not in accepted:
            batch.reject(i, "CLIENT_TYPE", "CLIENT_TYPE_NOT_ACCEPTED", kind)


def do_not_call(batch: Batch, ctx: Context, alive: list[int]) -> None:
    if not ctx.dnc:
        return
    for i, phone in zip(alive, _column(batch, alive, "phone"), strict=True):
        if phone in ctx.dnc:
            batch.reject(i, "DO_NOT_CALL", "DO_NOT_CALL", ctx.dnc[phone])


def booked(batch: Batch, ctx: Context, alive: list[int]) -> None:
    if not ctx.booked:
        return
    for i, phone in zip(alive, _column(batch, alive, "phone"), strict=True):
        if phone in ctx.booked:
            batch.reject(i, "BOOKED", "BOOKED", ctx.booked[phone])


INTERNAL: dict[str, Callable[[Batch, Context, list[int]], None]] = {
    "REQUEST_STATUS": request_status, "RESIDENCE": residence, "AGE": age, "PHONE_TEMPLATE": phone_template,
    "GRACE": grace, "CLIENT_TYPE": client_type, "DO_NOT_CALL": do_not_call, "BOOKED": booked,
}
