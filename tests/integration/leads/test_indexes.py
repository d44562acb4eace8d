"""The hot queries of lead intake use their indexes on tables with rows (plans read in a rolled-back
transaction)."""

from __future__ import annotations

import json

from tests.harness import unique


async def _plan(conn, sql, *args) -> str:
    rows = await conn.fetch("EXPLAIN (FORMAT JSON) " + sql, *args)
    return json.dumps(json.loads(rows[0][0]))


async def test_lead_queries_use_their_indexes(db):
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            tag = unique("idx")
            await conn.execute(
                """INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash,
                                             size_bytes, state, finished_at, moved_at)
                   SELECT 'MOBILE_LOANS', 'folder', $1 || i, 'mobile_loans/' || $1 || i, 'csv',
                          encode(sha256(($1 || i)::bytea), 'hex'), 100, 'done', now(), now()
                     FROM generate_series(1, 20000) i""", tag)
            await conn.execute(
                """INSERT INTO lead_snapshots (import_id, line_no, stream, application_no, created_at, changed_at,
                                               application_status, client_type, phone)
                   SELECT 1, i, 'MOBILE_LOANS', 900000000 + i, now(), now(), 'created', 'pioneer', '79990000000'
                     FROM generate_series(1, 20000) i""")
            await conn.execute("ANALYZE lead_imports")
            await conn.execute("ANALYZE lead_snapshots")
            # importer: which of a chunk's applications are known already
            plan = await _plan(conn, """SELECT application_no, max(changed_at) FROM lead_snapshots
                                         WHERE application_no = ANY($1::bigint[]) GROUP BY application_no""",
                               [900000005, 900000007])
            assert "lead_snapshots_pkey" in plan, plan
            # worker pass: open records (a few among many finished ones)
            plan = await _plan(conn, """SELECT id FROM lead_imports
                                         WHERE state IN ('queued', 'importing') OR moved_at IS NULL
                                         ORDER BY id LIMIT 100""")
            assert "lead_imports_open_idx" in plan, plan
            plan = await _plan(conn, """SELECT id FROM lead_imports WHERE source_path = $1
                                           AND (state IN ('queued', 'importing') OR moved_at IS NULL)""", "x")
            assert "lead_imports_open_idx" in plan, plan
            # the same content again
            plan = await _plan(conn, """SELECT id FROM lead_imports WHERE content_hash = $1
                                           AND state IN ('queued', 'importing', 'done')""", "0" * 64)
            assert "lead_imports_hash_idx" in plan, plan
            # a consumer reads one import's snapshots
            plan = await _plan(conn, "SELECT * FROM lead_snapshots WHERE import_id = $1", 2)
            assert "lead_snapshots_import_idx" in plan, plan
        finally:
            await tx.rollback()
