"""A minimal campaign engine (seed ch. 2.6.3): tasks enter a campaign, due NEW tasks are handed to
telephony (IN_PROGRESS), and the call marks them DONE (in the workstation's call-event handling)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from backend.calls import commands
from backend.campaigns import queries
from backend.core.db import Conn
from backend.core.errors import NotFound
from backend.core.settings import Settings
from backend.rules import queries as rules_queries
from backend.rules.sink import Entry, Prepared

log = logging.getLogger("backend.campaigns")
RESEND_AFTER = 30


async def enter_campaign(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, *, campaign_id: int,
                         phone: str, client_info: dict[str, Any], task_time: datetime | None) -> int:
    """A client (re-)enters a campaign. An open task of the same client in the same campaign is cancelled
    (DONE, and a DELETE sent to telephony if it was handed over) and a new NEW task starts."""
    sent: list[dict[str, Any]] = []
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT true FROM campaigns WHERE id = $1", campaign_id):
            raise NotFound("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")
        # campaign_tasks_phone_idx
        open_tasks = await conn.fetch(
            """SELECT id, task_state FROM campaign_tasks
                WHERE phone = $1 AND campaign_id = $2 AND task_state <> 'DONE' FOR UPDATE""", phone, campaign_id)
        for old in open_tasks:
            await conn.execute(
                "UPDATE campaign_tasks SET task_state = 'DONE', close_reason = 'REENTERED' WHERE id = $1", old["id"])
            if old["task_state"] == "IN_PROGRESS":
                delete_id = await conn.fetchval(
                    """INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'DELETE') RETURNING id""",
                    old["id"])
                sent.append({"type": "DELETE_TASK", "telephonyTaskId": delete_id, "campaignTaskId": old["id"]})
        task_id = await conn.fetchval(
            """INSERT INTO campaign_tasks (campaign_id, phone, client_info, task_time)
               VALUES ($1, $2, $3, coalesce($4, now())) RETURNING id""",
            campaign_id, phone, client_info, task_time)
    await commands.send(redis, settings, sent)
    return int(task_id)


async def hand_over_due(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, limit: int = 200) -> int:
    """Due NEW tasks become IN_PROGRESS with an ADD command for telephony, higher priority first. A due task
    whose phone is on the do-not-call list now, or whose client is now booked for another campaign (either may
    have happened after the task passed the cascade), is not dialled: it is closed DONE with close_reason
    DO_NOT_CALL or BOOKED (both checked in one query, rules.queries.dial_bars). Each hand-over counts one
    attempt.

    The telephony_tasks rows are the outbox: an ADD or DELETE telephony has not carried out within
    RESEND_AFTER seconds (the command was lost: Redis down when it was sent, or a stream trimmed) is sent
    again; telephony makes a repeated command harmless (an ADD is idempotent at the provider, a DELETE of a
    done task is a no-op)."""
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(
            """SELECT id, phone, campaign_id FROM campaign_tasks WHERE task_state = 'NEW' AND task_time <= now()
                ORDER BY priority DESC, task_time LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit)  # campaign_tasks_due_idx (or campaign_tasks_open_by_campaign_idx: both hold open tasks only)
        barred = await rules_queries.dial_bars(conn, due)  # do_not_call_pkey, bookings_pkey
        if barred:
            await conn.execute(
                """UPDATE campaign_tasks t SET task_state = 'DONE', close_reason = x.reason
                     FROM unnest($1::bigint[], $2::text[]) AS x(id, reason) WHERE t.id = x.id""",
                list(barred), list(barred.values()))
            for reason in sorted(set(barred.values())):
                log.info("%d due campaign task(s) not dialled: %s", sum(v == reason for v in barred.values()),
                         "the phone is on the do-not-call list" if reason == "DO_NOT_CALL"
                         else "the client is booked for another campaign")
        rows = [r for r in due if r["id"] not in barred]
        if rows:
            await conn.execute(
                """UPDATE campaign_tasks SET task_state = 'IN_PROGRESS', attempts = attempts + 1
                    WHERE id = ANY($1::bigint[])""", [r["id"] for r in rows])
        added = await conn.fetch(
            """INSERT INTO telephony_tasks (campaign_task_id, task_type)
               SELECT unnest($1::bigint[]), 'ADD' RETURNING id, campaign_task_id, task_type""",
            [r["id"] for r in rows]) if rows else []
        # telephony_tasks_outbox_idx
        stale = await conn.fetch(
            """SELECT id, campaign_task_id, task_type FROM telephony_tasks WHERE task_state = 'NEW'
                  AND updated_at < now() - make_interval(secs => $1::int)
                  FOR UPDATE SKIP LOCKED LIMIT 200""", RESEND_AFTER)
        if stale:
            await conn.execute("UPDATE telephony_tasks SET updated_at = now() WHERE id = ANY($1::bigint[])",
                               [r["id"] for r in stale])
    await commands.send(redis, settings, [
        {"type": f"{r['task_type']}_TASK", "telephonyTaskId": r["id"], "campaignTaskId": r["campaign_task_id"]}
        for r in [*added, *stale]])
    if rows:
        log.info("%d campaign task(s) handed to telephony", len(rows))
    return len(rows)


_encode_json = msgspec.json.Encoder().encode
TASK_COPY_COLUMNS = ("id", "campaign_id", "phone", "client_info", "task_time", "rules_version_id", "priority",
                     "application_no")


def _copy_text(value: object) -> str:
    """One field of PostgreSQL's COPY text format (\\N is NULL; a backslash, tab, newline or CR escaped)."""
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    """COPY's source from memory (asyncpg reads a bytes or file-like source in a worker thread)."""
    yield data


class CampaignEntry:
    """The cascade's TaskSink (backend.rules.sink): passing leads enter a campaign in bulk, with the semantics
    of enter_campaign — the client's open task in the campaign is cancelled (a DELETE for telephony if it was
    handed over) and a NEW task starts — inside the cascade's transaction, in two round trips for the whole
    batch: one statement closes the open tasks of those phones, queues the DELETEs and allocates the new
    tasks' ids; then the tasks go in by COPY (PostgreSQL's multi-row insert path, no per-row statement or
    RETURNING), ids and all. The COPY text is made by ``prepare`` before the transaction (the cascade does it
    while the previous batch is being written)."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings

    def prepare(self, campaign_id: int, entries: list[Entry], *, rules_version_id: int | None,
                priority: int) -> Prepared:
        """Each entry's COPY line but its id, in phone order: consecutive inserts into
        campaign_tasks_phone_idx land on neighbouring leaf pages (that random index is the costliest of the
        table's five; sorted, a batch costs ~10 % less). ``payload``: (entry's position, line tail) pairs."""
        head = f"\t{campaign_id}\t".encode()
        tail = f"\t{_copy_text(rules_version_id)}\t{priority}\t".encode()
        times: dict[datetime, bytes] = {}  # a batch's tasks share a few first calling moments
        lines = []
        for k, e in sorted(enumerate(entries), key=lambda pair: pair[1].phone):
            when = times.get(e.task_time)
            if when is None:
                when = times[e.task_time] = e.task_time.isoformat().encode()
            info = _encode_json(e.client_info)
            if b"\\" in info:  # JSON escapes; no raw tab, newline or CR is ever in msgspec's output
                info = info.replace(b"\\", b"\\\\")
            phone = e.phone if e.phone.isdigit() else _copy_text(e.phone)
            app = b"\\N" if e.application_no is None else b"%d" % e.application_no
            lines.append((k, b"%s%s\t%s\t%s%s%s\n" % (head, phone.encode(), info, when, tail, app)))
        return Prepared(campaign_id, [e.phone for e in entries], lines)

    async def enter(self, conn: Conn, prepared: Prepared) -> tuple[list[int], list[dict[str, Any]]]:
        if not prepared.phones:
            return [], []
        # campaign_tasks_phone_idx (phone, campaign_id) finds the open tasks; FOR UPDATE waits for (and then
        # sees) a hand-over that moved one to IN_PROGRESS meanwhile, so its DELETE is not missed.
        row = await conn.fetchrow(
            """WITH open AS (SELECT id, task_state FROM campaign_tasks
                              WHERE phone = ANY($1::text[]) AND campaign_id = $2 AND task_state <> 'DONE'
                                FOR UPDATE),
                    closed AS (UPDATE campaign_tasks t SET task_state = 'DONE', close_reason = 'REENTERED'
                                 FROM open o WHERE t.id = o.id RETURNING t.id, o.task_state AS was),
                    deletes AS (INSERT INTO telephony_tasks (campaign_task_id, task_type)
                                SELECT id, 'DELETE' FROM closed WHERE was = 'IN_PROGRESS' ORDER BY id
                                RETURNING id, campaign_task_id)
               SELECT (SELECT array_agg(nextval('campaign_tasks_id_seq')) FROM generate_series(1, $3)) AS ids,
                      (SELECT array_agg(id ORDER BY id) FROM deletes) AS delete_ids,
                      (SELECT array_agg(campaign_task_id ORDER BY id) FROM deletes) AS deleted_tasks""",
            prepared.phones, prepared.campaign_id, len(prepared.phones))
        assert row is not None
        ids: list[int] = list(row["ids"])
        sent = [{"type": "DELETE_TASK", "telephonyTaskId": d, "campaignTaskId": t}
                for d, t in zip(row["delete_ids"] or [], row["deleted_tasks"] or [], strict=True)]
        data = b"".join([b"%d%s" % (ids[k], line) for k, line in prepared.payload])
        await conn.copy_to_table("campaign_tasks", source=_chunks(data), columns=TASK_COPY_COLUMNS, format="text")
        return ids, sent

    async def enter_many(self, conn: Conn, campaign_id: int, entries: list[Entry], *, rules_version_id: int | None,
                         priority: int) -> tuple[list[int], list[dict[str, Any]]]:
        """One entry goes in by one statement (queries.enter_one: the function campaign_enter_one, which an
        integration request's claim also calls) instead of the batch's statement and COPY: one round trip
        instead of three, the same semantics."""
        if len(entries) == 1:
            e = entries[0]
            row = await queries.enter_one(conn, campaign_id, e.phone, e.client_info, e.task_time,
                                          rules_version_id, priority, e.application_no)
            sent = [{"type": "DELETE_TASK", "telephonyTaskId": d, "campaignTaskId": t}
                    for d, t in zip(row["delete_ids"] or [], row["deleted_tasks"] or [], strict=True)]
            return [int(row["task_id"])], sent
        return await self.enter(conn, self.prepare(campaign_id, entries, rules_version_id=rules_version_id,
                                                   priority=priority))

    async def send(self, sent: list[dict[str, Any]]) -> None:
        await commands.send(self._redis, self._settings, sent)
