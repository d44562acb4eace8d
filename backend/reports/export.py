"""CSV export in constant memory: rows come from a server-side cursor (a read-only transaction on one pooled
connection) and leave in chunks of about core.csvstream.CHUNK_BYTES, so a year of communications never sits in memory.

Excel-friendly: a UTF-8 byte order mark first; ``sep=";"`` for a Russian-locale Excel also writes decimal
commas. A text cell starting with = + - @ (or a tab / carriage return) gets a leading apostrophe, so a campaign
or login name cannot become a formula (CSV injection)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from backend.core.csvstream import BOM, CsvChunks
from backend.reports import queries
from backend.reports.service import KPI_COLUMNS, Filters, contactability_row, kpi

PREFETCH = 2000

DETAIL_COLUMNS = ["id", "started", "ended", "campaign_id", "campaign", "operator_id", "login", "team", "phone",
                  "segment", "state", "result", "outcome", "talk_seconds", "wrapup_seconds", "in_window",
                  "expired", "rework_seconds"]
CONTACTABILITY_COLUMNS = ["phone", "attempts", "answered", "successes", "contactability", "lastCallAt"]


async def _cursor_rows(pool: asyncpg.Pool, sql: str, args: tuple[Any, ...]) -> AsyncIterator[asyncpg.Record]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for row in conn.cursor(sql, *args, prefetch=PREFETCH):
            yield row


def _detail(r: Any) -> list[Any]:
    return [r[c] for c in DETAIL_COLUMNS]


def _contactability(r: Any) -> list[Any]:
    return list(contactability_row(r).values())


def _kpi(r: Any) -> list[Any]:
    return [r["key"], r["label"], *kpi(r).values()]


async def stream_csv(pool: asyncpg.Pool, kind: str, f: Filters, sep: str, group: str = "day") -> AsyncIterator[bytes]:
    writer = CsvChunks(sep)
    shape: Callable[[Any], list[Any]]
    if kind == "communications":
        writer.row(DETAIL_COLUMNS)
        rows = _cursor_rows(pool, queries.DETAIL_SQL, (*f.params(), f.zone.key))
        shape = _detail
    elif kind == "contactability":
        writer.row(CONTACTABILITY_COLUMNS)
        rows = _cursor_rows(pool, queries.contactability_sql(False), f.params())
        shape = _contactability
    else:  # kpis: one row per group, few rows
        writer.row(["key", "label", *KPI_COLUMNS])
        rows = _cursor_rows(pool, queries.kpi_read(group, f.params()), (*f.params(), f.zone.key))
        shape = _kpi
    yield BOM.encode() + writer.take()
    async for row in rows:
        writer.row(shape(row))
        if writer.full():
            yield writer.take()
    tail = writer.take()
    if tail:
        yield tail
