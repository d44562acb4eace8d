"""The call path's hot SQL and the pruning have their indexes: the plans on a table with rows use them."""

from __future__ import annotations

import json

from tests.harness import unique


async def _plan(conn, sql, *args) -> str:
    rows = await conn.fetch("EXPLAIN (FORMAT JSON) " + sql, *args)
    return json.dumps(json.loads(rows[0][0]))


async def test_hang_ups_find_their_telephony_task_and_pruning_its_call_events_by_index(db):
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("idx"))
            task = await conn.fetchval(
                "INSERT INTO campaign_tasks (campaign_id, phone) VALUES ($1, '79990001133') RETURNING id", campaign)
            await conn.execute(
                """INSERT INTO telephony_tasks (campaign_task_id, task_type, task_state, provider_task_id)
                   SELECT $1, 'ADD', 'DONE', 'idx-' || i FROM generate_series(1, 20000) i""", task)
            await conn.execute(
                """INSERT INTO call_events (event_id, event_type, call_id, outcome, payload, received_at)
                   SELECT $1 || i, 'CALL_STARTED', 'c', 'APPLIED', '{}', now() - i * interval '1 minute'
                     FROM generate_series(1, 20000) i""", unique("idx-"))
            await conn.execute("ANALYZE telephony_tasks")
            await conn.execute("ANALYZE call_events")
            # telephony/queries.py save_cursor, on every polled hang-up
            plan = await _plan(conn, """UPDATE telephony_tasks SET task_state = 'DONE'
                                         WHERE task_type = 'ADD' AND provider_task_id = ANY($1::text[])""",
                               ["idx-5", "idx-7"])
            assert "telephony_tasks_provider_idx" in plan, plan
            # workstation/queries.py prune_call_events: a few old rows among many recent ones
            plan = await _plan(conn, """SELECT event_id FROM call_events
                                         WHERE received_at < now() - make_interval(days => $1) LIMIT $2""", 13, 5000)
            assert "call_events_received_idx" in plan, plan
        finally:
            await tx.rollback()
