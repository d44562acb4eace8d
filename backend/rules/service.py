"""Campaign rules as admins change them: versions of a campaign's configuration, the do-not-call list (one
entry, or a CSV file at once) and bookings."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import asyncpg

from backend.core.errors import BadRequest, NotFound
from backend.core.types import EARLIEST, LATEST
from backend.rules import queries
from backend.rules.config import RulesConfig, encode

NO_CAMPAIGN = "No such campaign"
DNC_CSV_MAX_ROWS = 1_000_000
DNC_REASON_MAX = 500


async def save_config(pool: asyncpg.Pool, campaign_id: int, config: RulesConfig, created_by: int | None) -> Any:
    """A new version (the old ones stay: tasks and paths name theirs); in force for leads decided from now."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.add_version(conn, campaign_id, encode(config), list(config.data_streams), created_by)
    if row is None:
        raise NotFound(NO_CAMPAIGN, code="CAMPAIGN_NOT_FOUND", field="campaignId")
    return row


def _bad_csv(line: int, message: str, field: str = "file") -> BadRequest:
    return BadRequest(f"Line {line}: {message}", code="DNC_CSV_INVALID", field=field, data={"line": line})


def parse_dnc_csv(text: str) -> list[tuple[str, datetime | None, str]]:
    """``phone,until,reason`` (a header line is optional; until empty = permanent, else an ISO time with its
    zone). The whole file is checked before anything is stored: one bad line refuses the file (400 naming the
    line), so an import is never half applied."""
    rows: list[tuple[str, datetime | None, str]] = []
    reader = csv.reader(io.StringIO(text, newline=""))  # a bare CR ends a line (it was a 500: the fuzz test)
    for number, record in enumerate(reader, start=1):
        if not record or all(not cell.strip() for cell in record):
            continue
        if number == 1 and record[0].strip().lower() == "phone":
            continue
        if len(rows) >= DNC_CSV_MAX_ROWS:
            raise _bad_csv(number, f"more than {DNC_CSV_MAX_ROWS} entries")
        phone = record[0].strip()
        if len(phone) != 11 or not phone.isdigit():
            raise _bad_csv(number, "phone must be 11 digits", "phone")
        until_raw = record[1].strip() if len(record) > 1 else ""
        until: datetime | None = None
        if until_raw:
            try:
                until = datetime.fromisoformat(until_raw)
            except ValueError:
                raise _bad_csv(number, "until must be an ISO date-time with a zone, or empty", "until") from None
            if until.tzinfo is None or not EARLIEST <= until < LATEST:
                raise _bad_csv(number, "until must have a zone and lie between 2000 and 2100", "until")
        reason = (record[2].strip() if len(record) > 2 else "") or "CSV"
        if len(reason) > DNC_REASON_MAX or "\x00" in reason:
            raise _bad_csv(number, f"reason must be at most {DNC_REASON_MAX} characters", "reason")
        rows.append((phone, until, reason))
    return rows


async def import_dnc(pool: asyncpg.Pool, text: str, created_by: int | None) -> int:
    rows = parse_dnc_csv(text)
    async with pool.acquire() as conn, conn.transaction():
        return await queries.put_dnc_many(conn, rows, "CSV", created_by)
