"""The morning report (seed 003): after REPORTS_SUMMARY_AT (OPERATOR_TIMEZONE) one worker (a leader lock in
Redis) builds yesterday's summary, saves it (``daily_summaries``: its primary key, the day, makes the job
idempotent — a second worker or a rerun inserts nothing) and sends it through the notifier. A failed send is
recorded and tried again on later passes, up to REPORTS_SUMMARY_ATTEMPTS; nothing is sent twice once sent."""

from __future__ import annotations

import html
import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import redis.asyncio as aioredis

from backend.core.leader import LeaderLock
from backend.core.settings import Settings
from backend.reports import queries
from backend.reports.aggregator import refresh
from backend.reports.notify import Notifier
from backend.reports.service import Filters, kpi_report, outcome_report

log = logging.getLogger("backend.reports.summary")
TOP_OPERATORS = 50


async def build(pool: asyncpg.Pool, zone: ZoneInfo, day: date) -> dict[str, Any]:
    f = Filters(day, day, zone)
    total = await kpi_report(pool, f, "total")
    return {"day": day.isoformat(), "timeZone": zone.key, "total": total["total"],
            "campaigns": (await kpi_report(pool, f, "campaign"))["rows"],
            "teams": (await kpi_report(pool, f, "team"))["rows"],
            "operators": sorted((await kpi_report(pool, f, "operator"))["rows"],
                                key=lambda r: -r["calls"])[:TOP_OPERATORS],
            "outcomes": await outcome_report(pool, f)}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _sec(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def _line(name: str, k: dict[str, Any]) -> str:
    return (f"{name}: calls {k['calls']}, AHT {_sec(k['avgHandleSeconds'])}, in window {_pct(k['inWindowRate'])}, "
            f"to rework {_pct(k['expiredRate'])}, conversion {_pct(k['conversion'])}")


def render(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a summary."""
    day = payload["day"]
    subject = f"Daily summary {day}: {payload['total']['calls']} calls"
    lines = [f"Daily summary for {day} ({payload['timeZone']})", "", _line("Total", payload["total"]), "",
             "Campaigns:"]
    lines += ["  " + _line(r["label"] or r["key"], r) for r in payload["campaigns"]] or ["  —"]
    lines += ["", "Teams:"]
    lines += ["  " + _line(r["label"] or "(no team)", r) for r in payload["teams"]] or ["  —"]
    lines += ["", "Operators:"]
    lines += ["  " + _line(r["label"], r) for r in payload["operators"]] or ["  —"]
    lines += ["", "Outcomes:"]
    lines += [f"  {o['result'] or '(none)'} / {o['outcome'] or '(none)'}: {o['calls']}" for o in payload["outcomes"]]
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" if line else "<br>" for line in lines)
    return subject, text, f"<html><body>{body}</body></html>"


class DailySummary:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                 notifier: Notifier | None) -> None:
        self._pool = pool
        self._settings = settings
        self._notifier = notifier
        self._zone = ZoneInfo(settings.operator_timezone)
        self.lock = LeaderLock(redis, settings.redis_key_prefix + "reports:summary:leader", 60.0)

    async def tick(self, now: datetime | None = None) -> None:
        if not await self.lock.hold():
            return
        now = (now or datetime.now(self._zone)).astimezone(self._zone)
        if now.time() >= time.fromisoformat(self._settings.reports_summary_at):
            await self.make(now.date() - timedelta(days=1))
        await self.send_pending()

    async def make(self, day: date) -> bool:
        """Build and save the day's summary unless it exists; True when this call saved it."""
        async with self._pool.acquire() as conn:
            if await queries.get_summary(conn, day) is not None:
                return False
        s = self._settings
        await refresh(self._pool, margin_seconds=s.reports_refresh_margin_seconds, batch=s.reports_refresh_batch)
        payload = await build(self._pool, self._zone, day)
        async with self._pool.acquire() as conn:
            made = await queries.insert_summary(conn, day, payload)
        if made:
            log.info("daily summary for %s saved (%d calls)", day, payload["total"]["calls"])
        return made

    async def send_pending(self) -> int:
        if self._notifier is None:
            return 0
        sent = 0
        async with self._pool.acquire() as conn:
            rows = await queries.unsent_summaries(conn, self._settings.reports_summary_attempts)
        for listed in rows:
            # The row stays locked while it is sent: a second worker (a leader lock that lapsed) skips it, so
            # nobody gets the summary twice.
            async with self._pool.acquire() as conn, conn.transaction():
                row = await queries.claim_unsent(conn, listed["day"])
                if row is None:
                    continue
                subject, text, body = render(row["payload"])
                error: str | None = None
                try:
                    await self._notifier.send(subject, text, body)
                    sent += 1
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("daily summary for %s not sent (attempt %d): %s", row["day"], row["attempts"] + 1,
                                error)
                await queries.mark_sent(conn, row["day"], error)
        return sent
