"""SQL of campaign rules: versions, do-not-call, bookings, cascade runs/paths/counts, stale episodes.
Bound parameters only; each hot query names its index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Conn, Executor

_VERSION = "id, campaign_id, version, config, created_by, created_at"

# -- versions -------------------------------------------------------------------------------------------


async def add_version(conn: Conn, campaign_id: int, config: dict[str, Any], data_streams: list[str],
                      created_by: int | None) -> asyncpg.Record | None:
    """The next version of a campaign's rules; None when there is no such campaign. The campaign row is
    locked so two saves at once get consecutive numbers (campaign_rule_versions_campaign_id_version_key)."""
    if not await conn.fetchval("SELECT true FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id):
        return None
    return await conn.fetchrow(
        f"""INSERT INTO campaign_rule_versions (campaign_id, version, config, data_streams, created_by)
            SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM campaign_rule_versions WHERE campaign_id = $1
            RETURNING {_VERSION}""",  # noqa: S608
        campaign_id, config, data_streams, created_by)


async def latest_version(db: Executor, campaign_id: int) -> asyncpg.Record | None:
    # campaign_rule_versions_campaign_id_version_key, backwards
    return await db.fetchrow(
        f"""SELECT {_VERSION} FROM campaign_rule_versions WHERE campaign_id = $1
             ORDER BY version DESC LIMIT 1""", campaign_id)  # noqa: S608


async def version_by_id(db: Executor, version_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_VERSION} FROM campaign_rule_versions WHERE id = $1",  # noqa: S608
                             version_id)


async def list_versions(db: Executor, campaign_id: int, *, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {_VERSION} FROM campaign_rule_versions WHERE campaign_id = $1
             ORDER BY version DESC LIMIT $2 OFFSET $3""", campaign_id, limit, offset)  # noqa: S608


async def campaign_exists(db: Executor, campaign_id: int) -> bool:
    return bool(await db.fetchval("SELECT true FROM campaigns WHERE id = $1", campaign_id))


async def task_rules(db: Executor, task_id: int) -> asyncpg.Record | None:
    """The rules a task lives under: the version it was entered with, else its campaign's latest."""
    return await db.fetchrow(
        """SELECT v.id, v.config FROM campaign_tasks t
             JOIN LATERAL (SELECT id, config FROM campaign_rule_versions
                            WHERE (t.rules_version_id IS NOT NULL AND id = t.rules_version_id)
                               OR (t.rules_version_id IS NULL AND campaign_id = t.campaign_id)
                            ORDER BY version DESC LIMIT 1) v ON true
            WHERE t.id = $1""", task_id)


# -- do-not-call ----------------------------------------------------------------------------------------

_DNC = "phone, until, reason, source, created_by, created_at, updated_at"
# A permanent entry (until NULL) is never shortened by a temporary one; otherwise the later entry wins.
_DNC_UPSERT = """ON CONFLICT (phone) DO UPDATE
    SET until = CASE WHEN do_not_call.until IS NULL THEN NULL ELSE excluded.until END,
        reason = excluded.reason, source = excluded.source, created_by = excluded.created_by"""


async def put_dnc(db: Executor, phone: str, until: datetime | None, reason: str, source: str,
                  created_by: int | None) -> asyncpg.Record:
    row = await db.fetchrow(
        f"""INSERT INTO do_not_call (phone, until, reason, source, created_by) VALUES ($1, $2, $3, $4, $5)
            {_DNC_UPSERT} RETURNING {_DNC}""", phone, until, reason, source, created_by)  # noqa: S608
    assert row is not None
    return row


async def put_dnc_many(conn: Conn, rows: Sequence[tuple[str, datetime | None, str]], source: str,
                       created_by: int | None) -> int:
    """A CSV import: one statement for the whole file (unnest), the same upsert as one entry."""
    if not rows:
        return 0
    result = await conn.execute(
        f"""INSERT INTO do_not_call (phone, until, reason, source, created_by)
            SELECT DISTINCT ON (p) p, u, r, $4, $5 FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS x(p, u, r)
            {_DNC_UPSERT}""",  # noqa: S608
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], source, created_by)
    return int(result.rsplit(" ", 1)[-1])


async def get_dnc(db: Executor, phone: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_DNC} FROM do_not_call WHERE phone = $1", phone)  # noqa: S608


async def delete_dnc(db: Executor, phone: str) -> bool:
    return (await db.execute("DELETE FROM do_not_call WHERE phone = $1", phone)) != "DELETE 0"


async def list_dnc(db: Executor, *, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_DNC} FROM do_not_call ORDER BY phone LIMIT $1 OFFSET $2",  # noqa: S608
                          limit, offset)


async def dnc_active(db: Executor, phones: Sequence[str]) -> dict[str, str]:
    """Phones of ``phones`` that must not be called now, with the reason (do_not_call_pkey per phone)."""
    if not phones:
        return {}
    rows = await db.fetch(
        """SELECT phone, reason FROM do_not_call
            WHERE phone = ANY($1::text[]) AND (until IS NULL OR until > now())""", list(phones))
    return {r["phone"]: r["reason"] for r in rows}


async def withdraw_dials(conn: Conn, phones: Sequence[str]) -> asyncpg.Record:
    """The open tasks of ``phones`` that are on the list now close DONE with close_reason DO_NOT_CALL, waiting
    ones and handed-over ones alike: the hand-over's check (dial_bars) cannot stop a dial already queued at the
    provider. Each handed-over one gets a DELETE row (the telephony outbox, resent until carried out). Returns
    closed (how many tasks), delete_ids and deleted_tasks (for the commands). FOR UPDATE waits for a hand-over
    in flight and then sees its IN_PROGRESS. campaign_tasks_phone_idx (phone first), do_not_call_pkey."""
    row = await conn.fetchrow(
        """WITH open AS (SELECT t.id, t.task_state FROM campaign_tasks t
                          WHERE t.phone = ANY($1::text[]) AND t.task_state <> 'DONE'
                            AND EXISTS (SELECT 1 FROM do_not_call d WHERE d.phone = t.phone
                                           AND (d.until IS NULL OR d.until > now()))
                            FOR UPDATE OF t),
                closed AS (UPDATE campaign_tasks t SET task_state = 'DONE', close_reason = 'DO_NOT_CALL'
                             FROM open o WHERE t.id = o.id RETURNING t.id, o.task_state AS was),
                deletes AS (INSERT INTO telephony_tasks (campaign_task_id, task_type)
                            SELECT id, 'DELETE' FROM closed WHERE was = 'IN_PROGRESS' ORDER BY id
                            RETURNING id, campaign_task_id)
           SELECT (SELECT count(*) FROM closed) AS closed,
                  (SELECT array_agg(id ORDER BY id) FROM deletes) AS delete_ids,
                  (SELECT array_agg(campaign_task_id ORDER BY id) FROM deletes) AS deleted_tasks""", list(phones))
    assert row is not None
    return row


# -- bookings -------------------------------------------------------------------------------------------

_BOOKING = "phone, campaign_id, until, reason, created_by, created_at, updated_at"


async def put_booking(db: Executor, phone: str, campaign_id: int, until: datetime, reason: str | None,
                      created_by: int | None) -> asyncpg.Record:
    row = await db.fetchrow(
        f"""INSERT INTO bookings (phone, campaign_id, until, reason, created_by) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (phone) DO UPDATE SET campaign_id = excluded.campaign_id, until = excluded.until,
                   reason = excluded.reason, created_by = excluded.created_by
            RETURNING {_BOOKING}""", phone, campaign_id, until, reason, created_by)  # noqa: S608
    assert row is not None
    return row


async def get_booking(db: Executor, phone: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_BOOKING} FROM bookings WHERE phone = $1", phone)  # noqa: S608


async def delete_booking(db: Executor, phone: str) -> bool:
    return (await db.execute("DELETE FROM bookings WHERE phone = $1", phone)) != "DELETE 0"


async def list_bookings(db: Executor, *, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_BOOKING} FROM bookings ORDER BY phone LIMIT $1 OFFSET $2",  # noqa: S608
                          limit, offset)


async def booked_elsewhere(db: Executor, phones: Sequence[str], campaign_id: int) -> dict[str, int]:
    """Phones reserved, now, for another campaign, with that campaign (bookings_pkey per phone)."""
    if not phones:
        return {}
    rows = await db.fetch(
        """SELECT phone, campaign_id FROM bookings
            WHERE phone = ANY($1::text[]) AND campaign_id <> $2 AND until > now()""", list(phones), campaign_id)
    return {r["phone"]: int(r["campaign_id"]) for r in rows}


# -- dial time ---------------------------------------------------------------------------------------------

def bar_reason(phone: str, campaign_id: str) -> str:
    """The rule of ``dial_bars`` as one SQL expression over the SQL expressions ``phone`` and ``campaign_id``:
    'DO_NOT_CALL' (the phone is on the list), else 'BOOKED' (reserved for another campaign), else NULL. For a
    statement that decides one client among other reads (the exchange's request prelude); each subquery is
    one probe of do_not_call_pkey / bookings_pkey."""
    return f"""coalesce((SELECT 'DO_NOT_CALL' FROM do_not_call
                          WHERE phone = {phone} AND (until IS NULL OR until > now()) LIMIT 1),
                        (SELECT 'BOOKED' FROM bookings
                          WHERE phone = {phone} AND campaign_id <> {campaign_id} AND until > now() LIMIT 1))"""  # noqa: S608


async def dial_bars(db: Executor, tasks: Sequence[asyncpg.Record]) -> dict[int, str]:
    """Of due ``tasks`` (id, phone, campaign_id), those that must not be dialled now, with the close reason:
    DO_NOT_CALL (the phone is on the list) before BOOKED (the client is reserved for another campaign). Both
    checks in one round trip: per task, do_not_call_pkey and bookings_pkey are probed (the LATERAL ... LIMIT 1
    keeps that a nested loop of index probes; a plain join turned into a hash join over all bookings)."""
    if not tasks:
        return {}
    rows = await db.fetch(
        """SELECT t.id, coalesce(d.reason, b.reason) AS reason
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(id, phone, campaign_id)
             LEFT JOIN LATERAL (SELECT 'DO_NOT_CALL' AS reason FROM do_not_call
                                 WHERE phone = t.phone AND (until IS NULL OR until > now()) LIMIT 1) d ON true
             LEFT JOIN LATERAL (SELECT 'BOOKED' AS reason FROM bookings
                                 WHERE phone = t.phone AND campaign_id <> t.campaign_id AND until > now()
                                 LIMIT 1) b ON true
            WHERE d.reason IS NOT NULL OR b.reason IS NOT NULL""",
        [t["id"] for t in tasks], [t["phone"] for t in tasks], [t["campaign_id"] for t in tasks])
    return {int(r["id"]): r["reason"] for r in rows}


# -- cascade runs -----------------------------------------------------------------------------------------

async def discover_runs(db: Executor, lookback_hours: int, streams: list[str] | None) -> int:
    """A pending run for every done import (finished within the look-back) and every campaign whose rules in
    force name the import's stream and existed when the import finished (rules affect new leads only).
    lead_imports_done_idx finds the imports; ON CONFLICT makes a second worker's discovery harmless."""
    result = await db.execute(
        """INSERT INTO cascade_runs (import_id, campaign_id, rules_version_id, stream)
           SELECT i.id, v.campaign_id, v.id, i.stream
             FROM lead_imports i
             JOIN LATERAL (SELECT DISTINCT ON (campaign_id) id, campaign_id, data_streams
                             FROM campaign_rule_versions
                            WHERE created_at <= i.finished_at
                            ORDER BY campaign_id, version DESC) v ON i.stream = ANY(v.data_streams)
            WHERE i.state = 'done' AND i.finished_at > now() - make_interval(hours => $1)
              AND ($2::text[] IS NULL OR i.stream = ANY($2::text[]))
           ON CONFLICT (import_id, campaign_id) DO NOTHING""", lookback_hours, streams)
    return int(result.rsplit(" ", 1)[-1])


async def claim_run(db: Executor, owner: str, lease_seconds: float,
                    streams: list[str] | None) -> asyncpg.Record | None:
    """Take one pending run whose time has come and whose lease is free or lapsed (cascade_runs_pending_idx)."""
    return await db.fetchrow(
        """UPDATE cascade_runs r SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
             FROM (SELECT import_id, campaign_id FROM cascade_runs
                    WHERE state = 'pending' AND next_attempt_at <= now()
                      AND (lease_until IS NULL OR lease_until < now())
                      AND ($3::text[] IS NULL OR stream = ANY($3::text[]))
                    ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) c
            WHERE r.import_id = c.import_id AND r.campaign_id = c.campaign_id
        RETURNING r.import_id, r.campaign_id, r.rules_version_id, r.cursor_line, r.attempts""",
        owner, lease_seconds, streams)


async def lock_own_run(conn: Conn, import_id: int, campaign_id: int, owner: str, cursor_line: int) -> bool:
    """Inside a batch's transaction: the run is still ours and still at the cursor we read (a worker whose
    lease lapsed and was taken over finds otherwise and writes nothing)."""
    return bool(await conn.fetchval(
        """SELECT true FROM cascade_runs WHERE import_id = $1 AND campaign_id = $2 AND state = 'pending'
              AND lease_owner = $3 AND cursor_line = $4 FOR UPDATE""", import_id, campaign_id, owner, cursor_line))


async def advance_run(conn: Conn, import_id: int, campaign_id: int, *, cursor_line: int, passed: int,
                      rejected: int, errored: int, finished: bool, lease_seconds: float) -> None:
    await conn.execute(
        """UPDATE cascade_runs SET cursor_line = $3, passed = passed + $4, rejected = rejected + $5,
                  errored = errored + $6, attempts = 0, last_error = NULL,
                  lease_until = now() + make_interval(secs => $8),
                  state = CASE WHEN $7 THEN 'done' ELSE state END,
                  finished_at = CASE WHEN $7 THEN now() END
            WHERE import_id = $1 AND campaign_id = $2""",
        import_id, campaign_id, cursor_line, passed, rejected, errored, finished, lease_seconds)


async def defer_run(db: Executor, import_id: int, campaign_id: int, owner: str, delay: float, error: str) -> None:
    """An integration failed for this batch: nothing of it was written; try again after ``delay``."""
    await db.execute(
        """UPDATE cascade_runs SET attempts = attempts + 1, last_error = $5, lease_owner = NULL, lease_until = NULL,
                  next_attempt_at = now() + make_interval(secs => $4)
            WHERE import_id = $1 AND campaign_id = $2 AND lease_owner = $3""",
        import_id, campaign_id, owner, delay, error[:500])


async def release_run(db: Executor, import_id: int, campaign_id: int, owner: str) -> None:
    await db.execute("""UPDATE cascade_runs SET lease_owner = NULL, lease_until = NULL
                         WHERE import_id = $1 AND campaign_id = $2 AND lease_owner = $3""",
                     import_id, campaign_id, owner)


async def snapshot_cursor(conn: Conn, import_id: int, after_line: int) -> Any:
    """One import's lines after ``after_line`` in order, read a batch at a time (``await cursor.fetch(n)``)
    inside the caller's read-only transaction: the import's pages are found once (lead_snapshots_import_idx,
    BRIN) and sorted once, however many batches follow. A done import's snapshots never change."""
    return await conn.cursor(_SNAPSHOTS, import_id, after_line, None)


async def snapshot_batch(db: Executor, import_id: int, after_line: int, limit: int) -> list[asyncpg.Record]:
    """The next ``limit`` lines of one import (the bench's in-memory case)."""
    return await db.fetch(_SNAPSHOTS, import_id, after_line, limit)


# Only the columns the filters, the integrations and the task's client info read: decoding a row is much of
# the worker's CPU per lead (8 unread columns, two of them timestamps, cost ~15 % more).
_SNAPSHOTS = """SELECT line_no, application_no, application_status, client_type, phone, face_id, citizenship,
                  passport_series, passport_number, last_name, first_name, middle_name, birth_date, device_id,
                  requested_amount, product_type, grace, grace_unit
             FROM lead_snapshots WHERE import_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3"""


PATH_COLUMNS = ("import_id", "campaign_id", "line_no", "application_no", "phone", "outcome", "filter", "reason",
                "value", "rules_version_id", "campaign_task_id")


async def copy_paths(conn: Conn, records: list[tuple[Any, ...]]) -> None:
    if records:
        await conn.copy_records_to_table("cascade_paths", records=records, columns=PATH_COLUMNS)


async def add_counts(conn: Conn, import_id: int, campaign_id: int, counts: dict[tuple[str, str], int]) -> None:
    if not counts:
        return
    keys = list(counts)
    await conn.execute(
        """INSERT INTO cascade_counts (import_id, campaign_id, filter, outcome, n)
           SELECT $1, $2, f, o, n FROM unnest($3::text[], $4::text[], $5::bigint[]) AS x(f, o, n)
           ON CONFLICT (import_id, campaign_id, filter, outcome) DO UPDATE SET n = cascade_counts.n + excluded.n""",
        import_id, campaign_id, [k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys])


async def counts(db: Executor, campaign_id: int, import_id: int | None) -> list[asyncpg.Record]:
    # cascade_counts_pkey (by import) or a scan of one campaign's rows: the table is small (filters × imports)
    return await db.fetch(
        """SELECT import_id, filter, outcome, n FROM cascade_counts
            WHERE campaign_id = $1 AND ($2::bigint IS NULL OR import_id = $2)
            ORDER BY import_id, filter, outcome""", campaign_id, import_id)


async def runs(db: Executor, campaign_id: int, *, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT import_id, campaign_id, rules_version_id, state, cursor_line, passed, rejected, errored, attempts,
                  next_attempt_at, last_error, created_at, finished_at
             FROM cascade_runs WHERE campaign_id = $1 ORDER BY import_id DESC LIMIT $2 OFFSET $3""",
        campaign_id, limit, offset)


async def paths(db: Executor, campaign_id: int, import_id: int, *, outcome: str | None, limit: int,
                offset: int) -> list[asyncpg.Record]:
    # cascade_paths_pkey (import_id, campaign_id, line_no): one import's paths in line order
    return await db.fetch(
        """SELECT line_no, application_no, phone, outcome, filter, reason, value, rules_version_id,
                  campaign_task_id, decided_at
             FROM cascade_paths WHERE import_id = $1 AND campaign_id = $2 AND ($3::text IS NULL OR outcome = $3)
            ORDER BY line_no LIMIT $4 OFFSET $5""", import_id, campaign_id, outcome, limit, offset)


# -- stale clients ----------------------------------------------------------------------------------------

async def stale_candidates(db: Executor, statuses: list[str], days: int, limit: int) -> list[asyncpg.Record]:
    """Applications whose latest snapshot (lead_snapshots_pkey, backwards per application) is in one of
    ``statuses`` and older than ``days``, without a task for that episode yet."""
    return await db.fetch(
        """SELECT s.application_no, s.application_status, s.changed_at, s.phone, s.first_name, s.last_name,
                  s.middle_name, s.citizenship, s.birth_date, s.client_type
             FROM (SELECT DISTINCT ON (application_no) * FROM lead_snapshots
                    ORDER BY application_no, changed_at DESC) s
            WHERE s.application_status = ANY($1::text[]) AND s.changed_at <= now() - make_interval(days => $2)
              AND NOT EXISTS (SELECT 1 FROM stale_episodes e WHERE e.application_no = s.application_no
                                 AND e.application_status = s.application_status AND e.status_since = s.changed_at)
            LIMIT $3""", statuses, days, limit)


async def claim_episodes(conn: Conn, campaign_id: int, episodes: list[tuple[int, str, datetime]]) -> set[int]:
    """Record the episodes; the unique key (stale_episodes_pkey) decides which are new: their application
    numbers. A second run, or a second worker, gets none of the same ones back."""
    if not episodes:
        return set()
    rows = await conn.fetch(
        """INSERT INTO stale_episodes (application_no, application_status, status_since, campaign_id)
           SELECT a, s, t, $4 FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS x(a, s, t)
           ON CONFLICT DO NOTHING RETURNING application_no""",
        [e[0] for e in episodes], [e[1] for e in episodes], [e[2] for e in episodes], campaign_id)
    return {int(r["application_no"]) for r in rows}


async def set_episode_tasks(conn: Conn, episodes: list[tuple[int, str, datetime]], task_ids: list[int]) -> None:
    await conn.execute(
        """UPDATE stale_episodes e SET campaign_task_id = x.t
             FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[]) AS x(a, s, since, t)
            WHERE e.application_no = x.a AND e.application_status = x.s AND e.status_since = x.since""",
        [e[0] for e in episodes], [e[1] for e in episodes], [e[2] for e in episodes], task_ids)
