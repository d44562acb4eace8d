"""A month's report for one campaign on N generated communications: an incrementally maintained aggregate
table (what the product uses, backend/reports/aggregator.py) against a materialized view refreshed on a
schedule, and the raw query over communications for reference.

Steps (scratch database on DATABASE_URL or an embedded server; removed afterwards):
1. migrate, generate N communications with COPY (bench/report_data.py);
2. aggregate table: the first full build (refresh over everything), then REPEAT timings of the month's report
   (total, per day, per operator, heatmap: the four reads the page makes) for the busiest campaign;
3. materialized view of the same sums: CREATE, then the same reads against it;
4. CHANGES communications change (results saved, rework completed): one incremental pass against one
   REFRESH MATERIALIZED VIEW CONCURRENTLY — what keeping each fresh costs;
5. the same month's report computed from communications directly.

Usage: .venv/bin/python -m bench.reports [--communications 2000000] [--repeat 5] [--changes 2000] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.db import create_pool
from backend.core.migrate import migrate
from backend.core.settings import Settings
from backend.reports import queries
from backend.reports.aggregator import refresh
from backend.reports.service import Filters
from bench.common import scratch_services
from bench.report_data import generate

ZONE = ZoneInfo("Europe/Moscow")
MV = "report_hourly_mv"

RAW_TOTAL = """
SELECT count(*) AS calls, count(*) FILTER (WHERE c.call_ended_at IS NOT NULL) AS ended,
       sum(extract(epoch FROM c.call_ended_at - c.call_started_at)) AS talk_seconds,
       count(*) FILTER (WHERE c.state = 'FIXED' AND NOT c.completed_late) AS in_window,
       count(*) FILTER (WHERE c.outcome = 'SUCCESS') AS successes
  FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
 WHERE c.call_started_at >= $1 AND c.call_started_at < $2 AND t.campaign_id = $3"""


async def reads(conn: asyncpg.Connection, f: Filters, table: str) -> float:
    """The four reads of the reports page for the month; seconds."""
    def sql(text: str) -> str:
        return text.replace("report_hourly r", f"{table} r")
    started = time.perf_counter()
    for group in ("total", "day", "operator"):
        await conn.fetch(sql(queries.kpi_sql(group)), *f.params(), ZONE.key)
    await conn.fetch(sql(queries.HEATMAP_SQL), *f.params(), ZONE.key, None)
    return time.perf_counter() - started


async def timed(repeat: int, fn: Any) -> dict[str, float]:
    values = [await fn() for _ in range(repeat)]
    return {"p50_ms": round(statistics.median(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


async def run(n: int, repeat: int, changes: int) -> dict[str, Any]:
    async with scratch_services("bench-reports") as services:
        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        made = await generate(conn, n)
        settings = Settings.from_env(services.web_env())
        pool = await create_pool(settings)
        try:
            campaign = await conn.fetchval(
                """SELECT t.campaign_id FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
                    WHERE c.id % 100 = 0 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")
            last_month_end = (await conn.fetchval("SELECT max(call_started_at) FROM communications")).astimezone(ZONE)
            day_to = last_month_end.date() - timedelta(days=1)
            f = Filters(day_to - timedelta(days=29), day_to, ZONE, campaign_id=campaign)
            result: dict[str, Any] = {"communications": n, "generate": made, "campaign": campaign,
                                      "period": [f.day_from.isoformat(), f.day_to.isoformat()]}

            t = time.perf_counter()
            await refresh(pool, margin_seconds=0, batch=max(50_000, n // 20))
            result["aggregate_build_s"] = round(time.perf_counter() - t, 1)
            result["aggregate_rows"] = await conn.fetchval("SELECT count(*) FROM report_hourly")
            await conn.execute("ANALYZE report_hourly")
            result["aggregate_month_report"] = await timed(repeat, lambda: reads(conn, f, "report_hourly"))

            t = time.perf_counter()
            await conn.execute(
                f"CREATE MATERIALIZED VIEW {MV} ({queries.AGGREGATE_COLUMNS}) AS {queries.ALL_BUCKETS_SQL}")
            await conn.execute(
                f"CREATE UNIQUE INDEX ON {MV} (campaign_id, hour, operator_id, segment, result, outcome)")
            await conn.execute(f"CREATE INDEX ON {MV} (hour)")
            await conn.execute(f"ANALYZE {MV}")
            result["mv_build_s"] = round(time.perf_counter() - t, 1)
            result["mv_month_report"] = await timed(repeat, lambda: reads(conn, f, MV))
            same = await conn.fetchval(
                f"""SELECT count(*) FROM (SELECT {queries.AGGREGATE_COLUMNS} FROM {MV}
                     EXCEPT SELECT {queries.AGGREGATE_COLUMNS} FROM report_hourly) x""")
            result["mv_rows_differing_from_aggregate"] = same

            await conn.execute(
                """UPDATE communications SET state = 'FIXED', fixed_at = expired_at + interval '1 hour',
                          completed_late = true, outcome = 'SUCCESS', result_details = '{"result": "AGREED"}'
                    WHERE id IN (SELECT id FROM communications WHERE state = 'DRAFT' ORDER BY id DESC LIMIT $1)""",
                changes)
            t = time.perf_counter()
            await refresh(pool, margin_seconds=300)
            result["aggregate_incremental_pass_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {MV}")
            result["mv_refresh_s"] = round(time.perf_counter() - t, 1)

            async def raw() -> float:
                started = time.perf_counter()
                await conn.fetch(RAW_TOTAL, f.start, f.end, campaign)
                return time.perf_counter() - started
            result["raw_month_total"] = await timed(repeat, raw)
            result["month_calls"] = (await conn.fetchrow(RAW_TOTAL, f.start, f.end, campaign))["calls"]
        finally:
            await pool.close()
            await conn.close()
    return result


def table(r: dict[str, Any]) -> str:
    g = r["generate"]
    lines = [
        f"communications: {r['communications']:,} (tasks {g['tasks']:,}, {len(g['campaigns'])} campaigns, "
        f"{g['operators']} operators); generated in {g['tasks_s'] + g['communications_s']:.0f} s "
        f"(COPY; analyze {g['analyze_s']} s)",
        f"report: campaign {r['campaign']}, {r['period'][0]} .. {r['period'][1]} ({r['month_calls']:,} calls); "
        "4 reads: total, per day, per operator, heatmap",
        "",
        "| | build | keep fresh after the changes | month's report p50 | max |",
        "|---|---|---|---|---|",
        f"| aggregate table (incremental) | {r['aggregate_build_s']} s ({r['aggregate_rows']:,} rows) | "
        f"{r['aggregate_incremental_pass_s']} s (one pass) | {r['aggregate_month_report']['p50_ms']} ms | "
        f"{r['aggregate_month_report']['max_ms']} ms |",
        f"| materialized view | {r['mv_build_s']} s | {r['mv_refresh_s']} s (REFRESH CONCURRENTLY) | "
        f"{r['mv_month_report']['p50_ms']} ms | {r['mv_month_report']['max_ms']} ms |",
        f"| raw communications (total only) | — | — | {r['raw_month_total']['p50_ms']} ms | "
        f"{r['raw_month_total']['max_ms']} ms |",
        "",
        f"materialized view rows differing from the aggregate: {r['mv_rows_differing_from_aggregate']}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--communications", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args.communications, args.repeat, args.changes))
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
