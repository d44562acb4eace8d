"""SQL of lead intake: import records and lead snapshots. Bound parameters only; each hot query names its index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Conn, Executor
from backend.leads.formatcheck import OUTPUT

_IMPORT = """id, stream, source, file_name, source_path, file_format, content_hash, size_bytes, import_valid_rows,
             state, reason, message, duplicate_of, encoding, delimiter, rows_total, rows_accepted, rows_rejected,
             snapshots_new, snapshots_unchanged, bytes_done, errors_sample, report_rows, report_path, stored_path,
             attempts, created_by, created_at, started_at, finished_at, moved_at"""

# import_id and stream, then the typed columns of format control in their order.
SNAPSHOT_COLUMNS = ("import_id", "stream", *OUTPUT)


async def try_lock(conn: Conn, key: int) -> bool:
    """The session-level advisory lock of one file: held by the importing connection, lost with it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def unlock(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def get(db: Executor, import_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_IMPORT} FROM lead_imports WHERE id = $1", import_id)  # noqa: S608


async def insert(db: Executor, *, stream: str, source: str, file_name: str, source_path: str, file_format: str,
                 content_hash: str, size_bytes: int, import_valid_rows: bool, state: str,
                 created_by: int | None = None) -> asyncpg.Record | None:
    """A new record; None when the same content is already queued, importing or done (lead_imports_hash_idx)."""
    return await db.fetchrow(
        f"""INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash, size_bytes,
                                      import_valid_rows, state, created_by, started_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $9 = 'importing' THEN now() END)
            ON CONFLICT (content_hash) WHERE state IN ('queued', 'importing', 'done') DO NOTHING
            RETURNING {_IMPORT}""",  # noqa: S608
        stream, source, file_name, source_path, file_format, content_hash, size_bytes, import_valid_rows, state,
        created_by)


async def insert_duplicate(db: Executor, *, stream: str, source: str, file_name: str, source_path: str,
                           file_format: str, content_hash: str, size_bytes: int, duplicate_of: int,
                           message: str) -> asyncpg.Record:
    """The record of a file whose content was imported before: rejected at once, nothing imported."""
    row = await db.fetchrow(
        f"""INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash, size_bytes,
                                      state, reason, message, duplicate_of, started_at, finished_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'rejected', 'DUPLICATE', $9, $8, now(), now())
            RETURNING {_IMPORT}""",  # noqa: S608
        stream, source, file_name, source_path, file_format, content_hash, size_bytes, duplicate_of, message)
    assert row is not None
    return row


async def holder_of_hash(db: Executor, content_hash: str) -> asyncpg.Record | None:
    """The queued, importing or done record of this content (lead_imports_hash_idx)."""
    return await db.fetchrow(
        f"""SELECT {_IMPORT} FROM lead_imports
             WHERE content_hash = $1 AND state IN ('queued', 'importing', 'done')""", content_hash)  # noqa: S608


async def open_for_path(db: Executor, source_path: str) -> list[asyncpg.Record]:
    """Records of this file not finished, or finished but not yet moved (lead_imports_open_idx)."""
    return await db.fetch(
        f"""SELECT {_IMPORT} FROM lead_imports
             WHERE source_path = $1 AND (state IN ('queued', 'importing') OR moved_at IS NULL)
             ORDER BY id""", source_path)  # noqa: S608


async def open_records(db: Executor, limit: int = 100) -> list[asyncpg.Record]:
    """Every record not finished or not moved, oldest first (lead_imports_open_idx: a few rows at most)."""
    return await db.fetch(
        f"""SELECT {_IMPORT} FROM lead_imports
             WHERE state IN ('queued', 'importing') OR moved_at IS NULL ORDER BY id LIMIT $1""", limit)  # noqa: S608


async def start(db: Executor, import_id: int) -> None:
    """Importing (again: a crashed attempt's rows were rolled back); progress starts over."""
    await db.execute(
        """UPDATE lead_imports SET state = 'importing', started_at = now(), attempts = attempts + 1,
                  rows_total = 0, rows_accepted = 0, rows_rejected = 0, snapshots_new = 0,
                  snapshots_unchanged = 0, bytes_done = 0
            WHERE id = $1""", import_id)


async def progress(db: Executor, import_id: int, *, rows_total: int, rows_rejected: int, bytes_done: int) -> None:
    await db.execute(
        """UPDATE lead_imports SET rows_total = $2, rows_rejected = $3, bytes_done = $4
            WHERE id = $1 AND state = 'importing'""", import_id, rows_total, rows_rejected, bytes_done)


async def finish(db: Executor, import_id: int, *, state: str, reason: str | None, message: str | None,
                 encoding: str | None, delimiter: str | None, rows_total: int, rows_accepted: int,
                 rows_rejected: int, snapshots_new: int, snapshots_unchanged: int, bytes_done: int,
                 errors_sample: list[dict[str, Any]], report_rows: int, report_path: str | None,
                 stored_path: str | None) -> None:
    await db.execute(
        """UPDATE lead_imports SET state = $2, reason = $3, message = $4, encoding = $5, delimiter = $6,
                  rows_total = $7, rows_accepted = $8, rows_rejected = $9, snapshots_new = $10,
                  snapshots_unchanged = $11, bytes_done = $12, errors_sample = $13, report_rows = $14,
                  report_path = $15, stored_path = $16, finished_at = now()
            WHERE id = $1""",
        import_id, state, reason, message, encoding, delimiter, rows_total, rows_accepted, rows_rejected,
        snapshots_new, snapshots_unchanged, bytes_done, errors_sample, report_rows, report_path, stored_path)


async def moved(db: Executor, import_id: int) -> None:
    await db.execute("UPDATE lead_imports SET moved_at = now() WHERE id = $1 AND moved_at IS NULL", import_id)


async def latest_changes(db: Executor, application_nos: list[int]) -> list[asyncpg.Record]:
    """The newest stored change time (epoch microseconds) of each of these applications that has a snapshot
    (lead_snapshots_pkey (application_no, changed_at): one index probe per number)."""
    return await db.fetch(
        """SELECT application_no, (extract(epoch FROM max(changed_at)) * 1000000)::bigint AS known_us
             FROM lead_snapshots WHERE application_no = ANY($1::bigint[]) GROUP BY application_no""",
        application_nos)


async def highest_application(db: Executor) -> int | None:
    """The highest application number with a snapshot (lead_snapshots_pkey, read backwards: one row)."""
    value = await db.fetchval("SELECT max(application_no) FROM lead_snapshots")
    return int(value) if value is not None else None


async def listing(db: Executor, *, stream: str | None, state: str | None, source: str | None,
                  created_from: datetime | None, created_to: datetime | None, limit: int,
                  offset: int) -> tuple[int, list[asyncpg.Record]]:
    """Newest first (lead_imports_stream_idx / lead_imports_state_idx, or the primary key)."""
    where = """($1::text IS NULL OR stream = $1) AND ($2::text IS NULL OR state = $2)
               AND ($3::text IS NULL OR source = $3) AND ($4::timestamptz IS NULL OR created_at >= $4)
               AND ($5::timestamptz IS NULL OR created_at < $5)"""
    args = (stream, state, source, created_from, created_to)
    total = await db.fetchval(f"SELECT count(*) FROM lead_imports WHERE {where}", *args)  # noqa: S608
    rows = await db.fetch(
        f"SELECT {_IMPORT} FROM lead_imports WHERE {where} ORDER BY id DESC LIMIT $6 OFFSET $7",  # noqa: S608
        *args, limit, offset)
    return int(total), rows


async def snapshot_count(db: Executor, import_id: int) -> int:
    """lead_snapshots_import_idx (BRIN)"""
    return int(await db.fetchval("SELECT count(*) FROM lead_snapshots WHERE import_id = $1", import_id))
