"""Campaign rules as admins change them: versions of a campaign's configuration, the do-not-call list (one
entry, or a CSV file at once) and bookings."""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from backend.auth.audit import SYSTEM, Actor
from backend.calls import commands
from backend.core.db import again_if_rolled_back
from backend.core.errors import BadRequest, NotFound
from backend.core.settings import Settings
from backend.core.types import EARLIEST, LATEST
from backend.rules import queries
from backend.rules.config import RulesConfig, encode

log = logging.getLogger("backend.rules")
NO_CAMPAIGN = "No such campaign"
DNC_CSV_MAX_ROWS = 1_000_000
DNC_REASON_MAX = 500


async def save_config(pool: asyncpg.Pool, campaign_id: int, config: RulesConfig, created_by: int | None,
                      actor: Actor = SYSTEM) -> Any:
    """A new version (the old ones stay: tasks and paths name theirs); in force for leads decided from now.
    Audited (rules.save: the version in force before and the new one) in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.latest_version(conn, campaign_id)
        row = await queries.add_version(conn, campaign_id, encode(config), list(config.data_streams), created_by)
        if row is None:
            raise NotFound(NO_CAMPAIGN, code="CAMPAIGN_NOT_FOUND", field="campaignId")
        await actor.record(conn, "rules.save", "campaign", campaign_id,
                           None if before is None else {"rulesVersionId": before["id"], "config": before["config"]},
                           {"rulesVersionId": row["id"], "config": row["config"]})
    return row


# -- do-not-call and bookings, each change audited in its transaction -----------------------------------------

async def put_dnc(pool: asyncpg.Pool, phone: str, until: datetime | None, reason: str, source: str,
                  actor: Actor, redis: aioredis.Redis | None = None, settings: Settings | None = None) -> Any:
    """The entry, and the phone's open tasks withdrawn in the same transaction (``withdraw_dials``); run again
    if PostgreSQL broke a deadlock with a result saved at the same moment by rolling this one back."""
    async def put() -> tuple[Any, list[dict[str, Any]]]:
        async with pool.acquire() as conn, conn.transaction():
            before = await queries.get_dnc(conn, phone)
            row = await queries.put_dnc(conn, phone, until, reason, source, actor.operator_id)
            await actor.record(conn, "dnc.put", "phone", phone, before, row)
            return row, await withdraw_dials(conn, [phone])

    row, deletes = await again_if_rolled_back(put)
    await send_withdrawals(redis, settings, deletes)
    return row


async def withdraw_dials(conn: Any, phones: list[str]) -> list[dict[str, Any]]:
    """In the transaction that put ``phones`` on the list; returns the DELETE commands to send after it commits
    (``send_withdrawals``). A phone put on the list is dialled no more: its waiting tasks close, and a task
    already queued at the provider is cancelled there (a DELETE command; the engine re-sends it until telephony
    carries it out). Before, only the hand-over checked the list, so a client who asked not to be called while
    their task waited in the provider's queue could still be rung once."""
    row = await queries.withdraw_dials(conn, phones)
    if row["closed"]:
        log.info("%d open campaign task(s) withdrawn: the phone was put on the do-not-call list", row["closed"])
    return [{"type": "DELETE_TASK", "telephonyTaskId": d, "campaignTaskId": t}
            for d, t in zip(row["delete_ids"] or [], row["deleted_tasks"] or [], strict=True)]


async def send_withdrawals(redis: aioredis.Redis | None, settings: Settings | None,
                           deletes: list[dict[str, Any]]) -> None:
    """Now if we can; without Redis (the shell's import) the campaign engine's outbox pass sends them."""
    if redis is not None and settings is not None:
        await commands.send(redis, settings, deletes)


async def delete_dnc(pool: asyncpg.Pool, phone: str, actor: Actor) -> None:
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.get_dnc(conn, phone)
        if before is None or not await queries.delete_dnc(conn, phone):
            raise NotFound("The phone is not on the do-not-call list", code="DNC_NOT_FOUND", field="phone")
        await actor.record(conn, "dnc.delete", "phone", phone, before, None)


async def put_booking(pool: asyncpg.Pool, phone: str, campaign_id: int, until: datetime, reason: str | None,
                      actor: Actor) -> Any:
    async with pool.acquire() as conn, conn.transaction():
        if not await queries.campaign_exists(conn, campaign_id):
            raise NotFound(NO_CAMPAIGN, code="CAMPAIGN_NOT_FOUND", field="campaignId")
        before = await queries.get_booking(conn, phone)
        row = await queries.put_booking(conn, phone, campaign_id, until, reason, actor.operator_id)
        await actor.record(conn, "booking.put", "phone", phone, before, row)
    return row


async def delete_booking(pool: asyncpg.Pool, phone: str, actor: Actor) -> None:
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.get_booking(conn, phone)
        if before is None or not await queries.delete_booking(conn, phone):
            raise NotFound("The phone is not booked", code="BOOKING_NOT_FOUND", field="phone")
        await actor.record(conn, "booking.delete", "phone", phone, before, None)


def _bad_csv(line: int, message: str, field: str = "file") -> BadRequest:
    return BadRequest(f"Line {line}: {message}", code="DNC_CSV_INVALID", field=field, data={"line": line})


def parse_dnc_csv(text: str) -> list[tuple[str, datetime | None, str]]:
    """``phone,until,reason`` (a header line is optional; until empty = permanent, else an ISO time with its
    zone). The whole file is checked before anything is stored: one bad line refuses the file (400 naming the
    line), so an import is never half applied."""
    # newline="": \r\n, \n and a lone \r each end a line (csv.reader refuses a bare \r in a field otherwise).
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _dnc_rows(reader)
    except csv.Error as exc:
        raise _bad_csv(reader.line_num or 1, f"not CSV: {exc}") from None


def _dnc_rows(reader: Any) -> list[tuple[str, datetime | None, str]]:
    rows: list[tuple[str, datetime | None, str]] = []
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


async def import_dnc(pool: asyncpg.Pool, text: str, created_by: int | None, actor: Actor = SYSTEM,
                     redis: aioredis.Redis | None = None, settings: Settings | None = None) -> int:
    """All or nothing, open tasks of the phones withdrawn with it; one audit row for the file (how many entries,
    not the phones)."""
    rows = parse_dnc_csv(text)

    async def put() -> tuple[int, list[dict[str, Any]]]:
        async with pool.acquire() as conn, conn.transaction():
            stored = await queries.put_dnc_many(conn, rows, "CSV", created_by)
            deletes = await withdraw_dials(conn, [r[0] for r in rows])
            await actor.record(conn, "dnc.import", "dnc_list", None, None, {"entries": len(rows), "stored": stored})
            return stored, deletes

    stored, deletes = await again_if_rolled_back(put)
    await send_withdrawals(redis, settings, deletes)
    return stored
