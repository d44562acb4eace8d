"""Reports: periods in the operators' zone, KPIs from the aggregate's sums, the raw reads, an operator's own
statistics. Definitions of every figure: README "Reports"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from backend.core.errors import BadRequest
from backend.reports import queries

MAX_PERIOD_DAYS = 400


@dataclass(frozen=True)
class Filters:
    """Days are inclusive, in the operators' zone; ``start``/``end`` are the UTC bounds [start, end)."""

    day_from: date
    day_to: date
    zone: ZoneInfo
    campaign_id: int | None = None
    operator_id: int | None = None
    team_id: int | None = None
    outcome: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day_from, time(0), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.day_to + timedelta(days=1), time(0), self.zone).astimezone(UTC)

    def params(self) -> tuple[Any, ...]:
        return (self.start, self.end, self.campaign_id, self.operator_id, self.team_id, self.outcome)


def filters(zone: ZoneInfo, day_from: date | None, day_to: date | None, **rest: Any) -> Filters:
    """Default: today. A period ending before it starts, or longer than MAX_PERIOD_DAYS, is a 400."""
    today = datetime.now(zone).date()
    day_to = day_to or day_from or today
    day_from = day_from or day_to
    if day_to < day_from:
        raise BadRequest("The period ends before it starts", code="REPORT_PERIOD_INVALID", field="to")
    if (day_to - day_from).days >= MAX_PERIOD_DAYS:
        raise BadRequest(f"A report covers at most {MAX_PERIOD_DAYS} days", code="REPORT_PERIOD_TOO_LONG",
                         field="to", data={"maxDays": MAX_PERIOD_DAYS})
    return Filters(day_from, day_to, zone, **rest)


def _ratio(num: float, den: float, digits: int = 4) -> float | None:
    return round(num / den, digits) if den else None


def kpi(row: Any) -> dict[str, Any]:
    """The KPIs of one group from its sums (None where the denominator is 0)."""
    calls, ended = int(row.get("calls") or 0), int(row.get("ended") or 0)
    talk, wrapup = float(row.get("talk_seconds") or 0), float(row.get("wrapup_seconds") or 0)
    in_window, expired = int(row.get("in_window") or 0), int(row.get("expired") or 0)
    rework_done, rework_seconds = int(row.get("rework_done") or 0), float(row.get("rework_seconds") or 0)
    contacts, successes = int(row.get("contacts") or 0), int(row.get("successes") or 0)
    return {
        "calls": calls,
        "talkSeconds": round(talk, 1),
        "avgTalkSeconds": _ratio(talk, ended, 1),
        "wrapUpSeconds": round(wrapup, 1),
        "avgWrapUpSeconds": _ratio(wrapup, in_window, 1),
        # Average talk plus average wrap-up (a call without an in-window result adds no wrap-up).
        "avgHandleSeconds": round(talk / ended + (wrapup / in_window if in_window else 0), 1) if ended else None,
        "inWindow": in_window,
        "inWindowRate": _ratio(in_window, calls),
        "expired": expired,
        "expiredRate": _ratio(expired, calls),
        "reworkDone": rework_done,
        "avgReworkSeconds": _ratio(rework_seconds, rework_done, 1),
        "contacts": contacts,
        "successes": successes,
        "conversion": _ratio(successes, contacts),
        "noAnswer": int(row.get("no_answer") or 0),
        "busy": int(row.get("busy") or 0),
        "missed": int(row.get("dropped") or 0),
    }


KPI_COLUMNS = list(kpi({k: 0 for k in ("calls", "ended", "talk_seconds", "wrapup_seconds", "in_window", "expired",
                                      "rework_done", "rework_seconds", "contacts", "successes", "no_answer",
                                      "busy", "dropped")}))


async def kpi_report(pool: asyncpg.Pool, f: Filters, group: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await queries.kpis(conn, group, f.params(), f.zone.key)
        total = await queries.kpis(conn, "total", f.params(), f.zone.key)
    for_total = kpi(total[0] if total else {})
    return {"groupBy": group, "from": f.day_from.isoformat(), "to": f.day_to.isoformat(), "timeZone": f.zone.key,
            "rows": [{"key": r["key"], "label": r["label"], **kpi(r)} for r in rows],
            "total": for_total}


async def outcome_report(pool: asyncpg.Pool, f: Filters) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await queries.outcomes(conn, f.params())
    return [{"result": r["result"], "outcome": r["outcome"], "calls": int(r["calls"])} for r in rows]


async def heatmap_report(pool: asyncpg.Pool, f: Filters, segment: str | None) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await queries.heatmap(conn, f.params(), f.zone.key, segment)
        segs = await queries.segments(conn, f.params())
    cells = [{"weekday": r["weekday"], "hour": r["hour"], "attempts": int(r["attempts"]),
              "contacts": int(r["contacts"]), "successes": int(r["successes"]),
              "contactRate": _ratio(int(r["contacts"]), int(r["attempts"])),
              "successRate": _ratio(int(r["successes"]), int(r["attempts"]))} for r in rows]
    return {"timeZone": f.zone.key, "segment": segment, "segments": segs, "cells": cells}


def contactability_row(r: Any) -> dict[str, Any]:
    return {"phone": r["phone"], "attempts": int(r["attempts"]), "answered": int(r["answered"]),
            "successes": int(r["successes"]), "contactability": _ratio(int(r["answered"]), int(r["attempts"])),
            "lastCallAt": r["last_call_at"].isoformat() if r["last_call_at"] else None}


async def contactability_report(pool: asyncpg.Pool, f: Filters, limit: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await queries.contactability(conn, f.params(), limit)
    return [contactability_row(r) for r in rows]


async def campaign_report(pool: asyncpg.Pool, f: Filters) -> dict[str, Any]:
    """Attempts per task and leads imported / rejected per filter (campaign-level: no operator or team)."""
    async with pool.acquire() as conn:
        tasks = await queries.attempts_per_task(conn, f.start, f.end, f.campaign_id)
        leads = await queries.leads_by_filter(conn, f.start, f.end, f.campaign_id)
    per: dict[int, dict[str, Any]] = {}
    for r in leads:
        entry = per.setdefault(r["campaign_id"], {"campaignId": r["campaign_id"], "considered": 0, "passed": 0,
                                                 "rejected": 0, "errored": 0, "rejectedByFilter": {}})
        n = int(r["n"])
        entry["considered"] += n
        if r["outcome"] == "PASSED":
            entry["passed"] += n
        elif r["outcome"] == "REJECTED":
            entry["rejected"] += n
            entry["rejectedByFilter"][r["filter"]] = entry["rejectedByFilter"].get(r["filter"], 0) + n
        else:
            entry["errored"] += n
    return {"tasksClosed": int(tasks["tasks"]), "attempts": int(tasks["attempts"]),
            "attemptsPerTask": _ratio(int(tasks["attempts"]), int(tasks["tasks"]), 2),
            "leads": list(per.values())}


async def own_stats(pool: asyncpg.Pool, operator_id: int, zone: ZoneInfo,
                    now: datetime | None = None) -> dict[str, Any]:
    """Today's and this (ISO) week's figures of one operator, read live from communications."""
    now = (now or datetime.now(UTC)).astimezone(zone)
    today = datetime.combine(now.date(), time(0), zone)
    week = datetime.combine(now.date() - timedelta(days=now.weekday()), time(0), zone)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(0), zone)

    def figures(r: Any) -> dict[str, Any]:
        calls, ended = int(r["calls"]), int(r["ended"])
        return {"calls": calls, "avgTalkSeconds": _ratio(float(r["talk_seconds"]), ended, 1),
                "inWindow": int(r["in_window"]), "inWindowRate": _ratio(int(r["in_window"]), calls)}

    async with pool.acquire() as conn:
        day = await queries.own_stats(conn, operator_id, today, tomorrow)
        wk = await queries.own_stats(conn, operator_id, week, tomorrow)
        pending = await queries.rework_pending(conn, operator_id)
    return {"today": figures(day), "week": figures(wk), "reworkPending": int(pending),
            "day": now.date().isoformat(), "weekFrom": week.date().isoformat(), "timeZone": zone.key}
