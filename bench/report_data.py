"""Generated report data, fast: teams, operators, campaigns, campaign tasks and N communications written with
COPY (asyncpg's binary copy_records_to_table), spread over the last MONTHS months with a working-day shape
(Moscow hours 09–21), teams working one campaign each (80 % of an operator's calls), realistic talk and wrap-up
times, outcomes, expiries and late rework.

Usage: .venv/bin/python -m bench.report_data --database-url postgresql://... [--communications 10000000]
       (the database must be migrated; bench/reports.py calls generate() on a scratch database)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK = 200_000
OUTCOMES = [("AGREED", "SUCCESS", 18), ("DECLINED", "REFUSAL", 30), ("NO_PICKUP", "NO_ANSWER", 30),
            ("BUSY", "BUSY", 12), ("DROPPED", "DROPPED", 5), ("STOP", "DO_NOT_CALL", 5)]
SEGMENTS = ("pioneer", "repeater")
MSK_OFFSET = timedelta(hours=3)


async def _copy(conn: asyncpg.Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table(table, records=rows, columns=columns)


async def generate(conn: asyncpg.Connection, n: int, *, campaigns: int = 10, operators: int = 200, teams: int = 10,
                   months: int = 12, seed: int = 17, end: datetime | None = None) -> dict[str, Any]:
    """Write the data (``conn``: a plain connection, jsonb as text); answers what was made and how long each part
    took."""
    rnd = random.Random(seed)
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30 * months)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    team_ids = [r["id"] for r in await conn.fetch(
        "INSERT INTO teams (name) SELECT 'bench team ' || g FROM generate_series(1, $1) g RETURNING id", teams)]
    op_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO operators (login, password_hash, role, first_name, last_name, team_id)
           SELECT 'bench' || g, 'not-a-hash', 'operator', 'Оператор', 'Номер' || g, ($2::bigint[])[1 + g % $3]
             FROM generate_series(1, $1) g RETURNING id""", operators, team_ids, teams)]
    camp_ids = [r["id"] for r in await conn.fetch(
        "INSERT INTO campaigns (name) SELECT 'bench campaign ' || g FROM generate_series(1, $1) g RETURNING id",
        campaigns)]
    try:  # foreign-key checks are triggers; a superuser may skip them for the bulk load
        await conn.execute("SET session_replication_role = replica")
    except asyncpg.PostgresError:
        pass
    n_tasks = max(1, n // 3)
    first_task = int(await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM campaign_tasks"))
    # Task i is in campaign i % campaigns; a team works one campaign (operator j: team and campaign (j+1) % …)
    # and takes 80 % of its calls there, the rest in other campaigns.
    task_campaign = [camp_ids[i % campaigns] for i in range(n_tasks)]
    per_campaign = max(1, n_tasks // campaigns)
    for lo in range(0, n_tasks, CHUNK):
        rows = [(first_task + i, task_campaign[i], f"7{(i * 7919) % 10**10:010d}",
                 f'{{"clientType": "{SEGMENTS[i % 2]}"}}', end, "DONE", 1 + i % 4, "SUCCESS", end)
                for i in range(lo, min(n_tasks, lo + CHUNK))]
        await _copy(conn, "campaign_tasks", ["id", "campaign_id", "phone", "client_info", "task_time", "task_state",
                                             "attempts", "close_reason", "updated_at"], rows)
    await conn.execute("SELECT setval('campaign_tasks_id_seq', (SELECT max(id) FROM campaign_tasks))")
    timings["tasks_s"] = round(time.perf_counter() - t0, 1)

    t1 = time.perf_counter()
    span = (end - start).total_seconds()
    weights = [w for _, _, w in OUTCOMES]
    first_comm = int(await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM communications"))
    columns = ["id", "campaign_task_id", "operator_id", "state", "result_details", "call_started_at", "call_ended_at",
               "result_deadline", "fixed_at", "completed_late", "outcome", "expired_at", "created_at", "updated_at"]
    window = timedelta(seconds=60)
    for lo in range(0, n, CHUNK):
        rows: list[tuple[Any, ...]] = []
        picks = rnd.choices(OUTCOMES, weights=weights, k=min(n, lo + CHUNK) - lo)
        for i, (result, outcome, _) in zip(range(lo, min(n, lo + CHUNK)), picks, strict=True):
            day = start + timedelta(seconds=rnd.random() * span)
            # working hours in Moscow: 09:00–21:00 local
            local_day = (day + MSK_OFFSET).replace(hour=0, minute=0, second=0, microsecond=0) - MSK_OFFSET
            started = local_day + timedelta(hours=9, seconds=rnd.random() * 12 * 3600)
            ended = started + timedelta(seconds=rnd.randint(15, 300))
            deadline = ended + window
            roll = rnd.random()
            if roll < 0.85:  # saved in the window
                state, fixed, late, expired = "FIXED", ended + timedelta(seconds=rnd.uniform(3, 59)), False, None
            elif roll < 0.95:  # expired, reworked later
                state, late, expired = "FIXED", True, deadline
                fixed = deadline + timedelta(seconds=rnd.randint(60, 36000))
            else:  # expired, still on the rework list
                state, fixed, late, expired = "DRAFT", None, False, deadline
            j = rnd.randrange(operators)
            operator = op_ids[j]
            home = (j + 1) % teams % campaigns if rnd.random() < 0.8 else rnd.randrange(campaigns)
            task_index = min(n_tasks - 1, home + campaigns * rnd.randrange(per_campaign))
            details = f'{{"result": "{result}"}}' if state == "FIXED" else "{}"
            rows.append((first_comm + i, first_task + task_index, operator, state,
                         details, started, ended, deadline, fixed, late,
                         outcome if state == "FIXED" else None, expired, started, fixed or expired or ended))
        await _copy(conn, "communications", columns, rows)
    await conn.execute("SELECT setval('communications_id_seq', (SELECT max(id) FROM communications))")
    await conn.execute("RESET session_replication_role")
    timings["communications_s"] = round(time.perf_counter() - t1, 1)
    t2 = time.perf_counter()
    await conn.execute("ANALYZE campaign_tasks")
    await conn.execute("ANALYZE communications")
    timings["analyze_s"] = round(time.perf_counter() - t2, 1)
    return {"communications": n, "tasks": n_tasks, "campaigns": camp_ids, "operators": len(op_ids),
            "teams": team_ids, "from": start.isoformat(), "to": end.isoformat(), **timings}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--communications", type=int, default=10_000_000)
    args = parser.parse_args()
    conn = await asyncpg.connect(args.database_url)
    try:
        print(await generate(conn, args.communications))
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
