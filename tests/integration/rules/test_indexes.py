"""The rules' hot queries use their indexes on tables with rows (the plans, inside a rolled-back transaction)."""

from __future__ import annotations

import json

from tests.harness import unique


async def _plan(conn, sql, *args) -> str:
    rows = await conn.fetch("EXPLAIN (FORMAT JSON) " + sql, *args)
    return json.dumps(json.loads(rows[0][0]))


async def test_claim_hand_over_and_do_not_call_lookups_use_their_indexes(db):
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("idx"))
            await conn.execute(
                """INSERT INTO campaign_tasks (campaign_id, phone, task_state, task_time, priority)
                   SELECT $1, '7' || lpad(i::text, 10, '0'), CASE WHEN i % 50 = 0 THEN 'NEW' ELSE 'DONE' END,
                          now() + (i % 7) * interval '1 hour', i % 3
                     FROM generate_series(1, 20000) i""", campaign)
            await conn.execute(
                """INSERT INTO do_not_call (phone, reason, source)
                   SELECT '7' || lpad(i::text, 10, '0'), 'x', 'T' FROM generate_series(1, 20000) i""")
            await conn.execute(
                """INSERT INTO bookings (phone, campaign_id, until)
                   SELECT '7' || lpad(i::text, 10, '0'), $1, now() + interval '1 day'
                     FROM generate_series(1, 20000) i""", campaign)
            version = await conn.fetchval(
                """INSERT INTO campaign_rule_versions (campaign_id, version, config, data_streams)
                   VALUES ($1, 1, '{}', '{S}') RETURNING id""", campaign)
            imports = await conn.fetch(
                """INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash,
                                             size_bytes, state, started_at, finished_at)
                   SELECT 'S', 'cli', 'f', 'p' || i, 'csv', lpad(to_hex(i), 64, '0'), 1,
                          'done', now(), now() - i * interval '1 minute' FROM generate_series(1, 3000) i
                   RETURNING id""")
            await conn.execute(
                """INSERT INTO cascade_runs (import_id, campaign_id, rules_version_id, stream, state)
                   SELECT unnest($1::bigint[]), $2, $3, 'S', 'done'""", [r["id"] for r in imports], campaign, version)
            for table in ("campaign_tasks", "do_not_call", "bookings", "cascade_runs", "lead_imports"):
                await conn.execute(f"ANALYZE {table}")
            # rules/queries.py dial_bars, on every hand-over: do-not-call and bookings in one query
            plan = await _plan(conn, """
                SELECT t.id, coalesce(d.reason, b.reason) AS reason
                  FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS t(id, phone, campaign_id)
                  LEFT JOIN LATERAL (SELECT 'DO_NOT_CALL' AS reason FROM do_not_call
                                      WHERE phone = t.phone AND (until IS NULL OR until > now()) LIMIT 1) d ON true
                  LEFT JOIN LATERAL (SELECT 'BOOKED' AS reason FROM bookings
                                      WHERE phone = t.phone AND campaign_id <> t.campaign_id AND until > now()
                                      LIMIT 1) b ON true
                 WHERE d.reason IS NOT NULL OR b.reason IS NOT NULL""",
                               list(range(1, 201)), [f"7{i:010d}" for i in range(1, 201)], [campaign] * 200)
            assert "do_not_call_pkey" in plan and "bookings_pkey" in plan, plan
            # campaigns/service.py hand_over_due
            plan = await _plan(conn, """SELECT id, phone FROM campaign_tasks WHERE task_state = 'NEW'
                                          AND task_time <= now() ORDER BY priority DESC, task_time LIMIT 200""")
            # Either partial index of open tasks serves it (the planner picks by their sizes); never a scan of
            # every task ever made.
            assert "campaign_tasks_due_idx" in plan or "campaign_tasks_open_by_campaign_idx" in plan, plan
            assert "Seq Scan" not in plan, plan
            # rules/queries.py dnc_active, on every cascade batch and hand-over
            plan = await _plan(conn, """SELECT phone, reason FROM do_not_call WHERE phone = ANY($1::text[])
                                          AND (until IS NULL OR until > now())""", ["70000000005", "70000000007"])
            assert "do_not_call_pkey" in plan, plan
            # rules/queries.py claim_run: pending runs among many done ones
            plan = await _plan(conn, """SELECT import_id, campaign_id FROM cascade_runs
                                         WHERE state = 'pending' AND next_attempt_at <= now()
                                         ORDER BY next_attempt_at LIMIT 1""")
            assert "cascade_runs_pending_idx" in plan, plan
            # rules/queries.py discover_runs: imports finished within the look-back
            plan = await _plan(conn, """SELECT id FROM lead_imports WHERE state = 'done'
                                         AND finished_at > now() - interval '10 minutes'""")
            assert "lead_imports_done_idx" in plan, plan
        finally:
            await tx.rollback()
