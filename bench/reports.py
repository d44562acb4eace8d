"""A month's report for one campaign on N generated communications: the incrementally maintained aggregates
(what the product uses, backend/reports/aggregator.py: report_hourly and its rollups report_campaign_hourly
and report_operator_daily, each read taking the coarsest that answers it) against report_hourly alone (before
the rollups) and a materialized view refreshed on a schedule, and the raw query over communications.

Steps (scratch database on DATABASE_URL or an embedded server; removed afterwards unless --keep):
1. migrate, generate N communications with COPY (bench/report_data.py) — with --keep NAME only if database
   NAME has none yet (it is then reused as it is: the report aggregates are emptied and rebuilt);
2. aggregates: the first full build (refresh over everything), then REPEAT timings of the month's report
   (total, per day, per operator, heatmap: four reads the page makes) for the busiest campaign, read as the
   product reads it and from report_hourly alone; then the reports page's seven reads (KPIs by the chosen
   grouping and their total, by hour of day and its total, outcomes, heatmap, segments), and the same four
   reads of one team's month (operators needed: report_operator_daily, report_hourly by day and hour);
3. materialized view of report_hourly's sums (unless --no-mv): CREATE, then the same reads against it;
4. CHANGES communications change (results saved, rework completed): one incremental pass against one
   REFRESH MATERIALIZED VIEW CONCURRENTLY — what keeping each fresh costs;
5. the same month's total computed from communications directly.

Usage: .venv/bin/python -m bench.reports [--communications 2000000] [--repeat 5] [--changes 2000] [--json FILE]
                                         [--keep DATABASE] [--no-mv]
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
from backend.reports.service import Filters, heatmap_report, kpi_report, outcome_report
from bench.common import load_average, scratch_services
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


async def reads(conn: asyncpg.Connection, f: Filters, table: str | None) -> float:
    """The four reads of the reports page for the month, from ``table`` (None: each from the table the product
    picks); seconds."""
    p = f.params()

    def sql(group: str) -> str:
        return queries.kpi_read(group, p) if table is None else queries.kpi_sql(group).replace(
            "report_hourly r", f"{table} r")
    started = time.perf_counter()
    for group in ("total", "day", "operator"):
        await conn.fetch(sql(group), *p, ZONE.key)
    heat = queries.heatmap_sql(queries.hourly_table(p) if table is None else table)
    await conn.fetch(heat, *p, ZONE.key, None)
    return time.perf_counter() - started


async def page(pool: asyncpg.Pool, f: Filters) -> float:
    """Everything the reports page asks for on one apply (grouped by operator): seconds."""
    started = time.perf_counter()
    await kpi_report(pool, f, "operator")
    await kpi_report(pool, f, "hourOfDay")
    await outcome_report(pool, f)
    await heatmap_report(pool, f, None)
    return time.perf_counter() - started


async def timed(repeat: int, fn: Any) -> dict[str, float]:
    values = [await fn() for _ in range(repeat)]
    return {"p50_ms": round(statistics.median(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1)}


async def run(n: int, repeat: int, changes: int, keep: str | None = None, mv: bool = True) -> dict[str, Any]:
    async with scratch_services("bench-reports", keep) as services:
        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        have = await conn.fetchval("SELECT count(*) FROM communications") if keep else 0
        if have:
            made: dict[str, Any] = {"communications": have, "reused": keep}
            n = have
            await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {MV}")
            await conn.execute("TRUNCATE report_hourly, report_campaign_hourly, report_operator_daily, "
                               "report_watermark")
        else:
            made = await generate(conn, n)
        settings = Settings.from_env(services.web_env())
        pool = await create_pool(settings)
        try:
            campaign, team = (await conn.fetchrow(
                """SELECT t.campaign_id, min(o.team_id) AS team
                     FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
                     JOIN operators o ON o.id = c.operator_id
                    WHERE c.id % 100 = 0 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""")).values()
            last_month_end = (await conn.fetchval("SELECT max(call_started_at) FROM communications")).astimezone(ZONE)
            day_to = last_month_end.date() - timedelta(days=1)
            f = Filters(day_to - timedelta(days=29), day_to, ZONE, campaign_id=campaign)
            f_team = Filters(f.day_from, f.day_to, ZONE, team_id=team)
            result: dict[str, Any] = {"communications": n, "generate": made, "campaign": campaign, "team": team,
                                      "period": [f.day_from.isoformat(), f.day_to.isoformat()],
                                      "load_before": load_average()}

            t = time.perf_counter()
            await refresh(pool, margin_seconds=0, batch=max(50_000, n // 20))
            result["aggregate_build_s"] = round(time.perf_counter() - t, 1)
            for name in ("report_hourly", "report_campaign_hourly", "report_operator_daily"):
                result[f"{name}_rows"] = await conn.fetchval(f"SELECT count(*) FROM {name}")
                await conn.execute(f"ANALYZE {name}")
            result["month_rows"] = {
                "report_hourly": await conn.fetchval(
                    "SELECT count(*) FROM report_hourly WHERE campaign_id = $1 AND hour >= $2 AND hour < $3",
                    campaign, f.start, f.end),
                "report_campaign_hourly": await conn.fetchval(
                    """SELECT count(*) FROM report_campaign_hourly WHERE campaign_id = $1 AND hour >= $2
                          AND hour < $3""", campaign, f.start, f.end),
                "report_operator_daily": await conn.fetchval(
                    "SELECT count(*) FROM report_operator_daily WHERE campaign_id = $1 AND day >= $2 AND day < $3",
                    campaign, f.start, f.end)}
            result["aggregate_month_report"] = await timed(repeat, lambda: reads(conn, f, None))
            result["hourly_only_month_report"] = await timed(repeat, lambda: reads(conn, f, "report_hourly"))
            result["page_month"] = await timed(repeat, lambda: page(pool, f))
            result["team_month_report"] = await timed(repeat, lambda: reads(conn, f_team, None))
            result["team_hourly_only_month_report"] = await timed(
                repeat, lambda: reads(conn, f_team, "report_hourly"))

            if mv:
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
            result["load_changes"] = load_average()
            t = time.perf_counter()
            await refresh(pool, margin_seconds=300)
            result["aggregate_incremental_pass_s"] = round(time.perf_counter() - t, 3)
            if mv:
                t = time.perf_counter()
                await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {MV}")
                result["mv_refresh_s"] = round(time.perf_counter() - t, 1)
                await conn.execute(f"DROP MATERIALIZED VIEW {MV}")
            # The rollups still agree with report_hourly after the pass (every sum, every bucket).
            result["rollup_rows_differing"] = await conn.fetchval(ROLLUPS_DIFFER)

            async def raw() -> float:
                started = time.perf_counter()
                await conn.fetch(RAW_TOTAL, f.start, f.end, campaign)
                return time.perf_counter() - started
            result["raw_month_total"] = await timed(repeat, raw)
            result["month_calls"] = (await conn.fetchrow(RAW_TOTAL, f.start, f.end, campaign))["calls"]
            result["load_after"] = load_average()
        finally:
            await pool.close()
            await conn.close()
    return result


def _sums(add: bool) -> str:
    """The sums of a row (or, ``add``, of a group) as exact numerics, seconds to the microsecond."""
    def n(c: str) -> str:
        return f"sum({c})" if add else c

    def sec(c: str) -> str:
        return f"round({n(c + '::numeric')}, 6)"
    return (f"{n('calls')}, {n('ended')}, {sec('talk_seconds')}, {n('in_window')}, {sec('wrapup_seconds')}, "
            f"{n('expired')}, {n('rework_done')}, {sec('rework_seconds')}")


# Rows in which the rollups and report_hourly rolled up differ, both ways (after the incremental pass).
ROLLUPS_DIFFER = f"""
WITH ch AS MATERIALIZED (SELECT hour, campaign_id, segment, result, outcome, {_sums(True)}
                           FROM report_hourly GROUP BY 1, 2, 3, 4, 5),
     od AS MATERIALIZED (SELECT date_trunc('day', hour, 'UTC'), campaign_id, operator_id, outcome, {_sums(True)}
                           FROM report_hourly GROUP BY 1, 2, 3, 4),
     ch2 AS MATERIALIZED (SELECT hour, campaign_id, segment, result, outcome, {_sums(False)}
                            FROM report_campaign_hourly),
     od2 AS MATERIALIZED (SELECT day, campaign_id, operator_id, outcome, {_sums(False)} FROM report_operator_daily)
SELECT (SELECT count(*) FROM (TABLE ch EXCEPT ALL TABLE ch2) a)
     + (SELECT count(*) FROM (TABLE ch2 EXCEPT ALL TABLE ch) b)
     + (SELECT count(*) FROM (TABLE od EXCEPT ALL TABLE od2) c)
     + (SELECT count(*) FROM (TABLE od2 EXCEPT ALL TABLE od) d)
"""


def table(r: dict[str, Any]) -> str:
    g = r["generate"]
    made = (f"reused database {g['reused']}" if "reused" in g else
            f"tasks {g['tasks']:,}, {len(g['campaigns'])} campaigns, {g['operators']} operators; generated in "
            f"{g['tasks_s'] + g['communications_s']:.0f} s (COPY; analyze {g['analyze_s']} s)")
    rows = r["month_rows"]

    def ms(key: str) -> str:
        return f"{r[key]['p50_ms']} ms | {r[key]['max_ms']} ms"
    lines = [
        f"communications: {r['communications']:,} ({made})",
        f"report: campaign {r['campaign']}, {r['period'][0]} .. {r['period'][1]} ({r['month_calls']:,} calls); "
        "4 reads: total, per day, per operator, heatmap; load average before / at the changes / after: "
        f"{r['load_before']} / {r['load_changes']} / {r['load_after']}",
        f"rows: report_hourly {r['report_hourly_rows']:,} (the month: {rows['report_hourly']:,}), "
        f"report_campaign_hourly {r['report_campaign_hourly_rows']:,} ({rows['report_campaign_hourly']:,}), "
        f"report_operator_daily {r['report_operator_daily_rows']:,} ({rows['report_operator_daily']:,})",
        "",
        "| | build | keep fresh after the changes | month's report p50 | max |",
        "|---|---|---|---|---|",
        f"| aggregates, coarsest table per read (incremental) | {r['aggregate_build_s']} s | "
        f"{r['aggregate_incremental_pass_s']} s (one pass) | {ms('aggregate_month_report')} |",
        f"| the same, report_hourly alone | — | — | {ms('hourly_only_month_report')} |",
    ]
    if "mv_build_s" in r:
        lines.append(f"| materialized view | {r['mv_build_s']} s | {r['mv_refresh_s']} s (REFRESH CONCURRENTLY) | "
                     f"{ms('mv_month_report')} |")
    lines += [
        f"| raw communications (total only) | — | — | {ms('raw_month_total')} |",
        "",
        f"the reports page's 7 reads (by operator): {ms('page_month').replace(' | ', ' p50, max ')}",
        f"one team's month (team {r['team']}), 4 reads: {ms('team_month_report').replace(' | ', ' p50, max ')}; "
        f"report_hourly alone {ms('team_hourly_only_month_report').replace(' | ', ' p50, max ')}",
        f"rollup rows differing from report_hourly after the pass: {r['rollup_rows_differing']}",
    ]
    if "mv_build_s" in r:
        lines.append(f"materialized view rows differing from the aggregate: {r['mv_rows_differing_from_aggregate']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--communications", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--keep", metavar="DATABASE",
                        help="generate into this database (on DATABASE_URL's server) only if it has no communications "
                             "yet, and keep it: later runs reuse the data")
    parser.add_argument("--no-mv", action="store_true", help="skip the materialized view")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args.communications, args.repeat, args.changes, args.keep, not args.no_mv))
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
