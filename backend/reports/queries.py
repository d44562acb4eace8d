"""Reports' SQL: the hourly aggregate's maintenance, the KPI reads over it, and the few reads of raw rows
(contactability, attempts per task, leads per filter, the detail export, an operator's own statistics).

Every period is a half-open UTC interval [start, end) computed by the service from days in OPERATOR_TIMEZONE;
"day" and "hour" groups are cut in that zone (``$zone``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# What the outcome of a result says about the call (README "Reports").
CONTACT_OUTCOMES = ("SUCCESS", "REFUSAL", "DO_NOT_CALL")  # somebody answered
SUCCESS_OUTCOME = "SUCCESS"

# -- the aggregate's maintenance ---------------------------------------------------------------------------


async def watermark(conn: Any) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT updated_to FROM report_watermark")
    return value


async def set_watermark(conn: Any, updated_to: datetime) -> None:
    await conn.execute(
        """INSERT INTO report_watermark (id, updated_to) VALUES (true, $1)
           ON CONFLICT (id) DO UPDATE SET updated_to = greatest(report_watermark.updated_to, $1), passed_at = now()""",
        updated_to)


async def changed_upper_bound(conn: Any, since: datetime, limit: int) -> datetime | None:
    """The updated_at of the ``limit``-th communication changed after ``since`` (a pass takes at most that many
    at once; the first pass over a big table goes in slices). None: fewer changed. communications_updated_idx."""
    value: datetime | None = await conn.fetchval(
        """SELECT updated_at FROM communications WHERE updated_at > $1
            ORDER BY updated_at OFFSET $2 - 1 LIMIT 1""", since, limit)
    return value


async def dirty_buckets(conn: Any, since: datetime, until: datetime | None) -> list[asyncpg.Record]:
    """(operator, UTC hour) of the communications changed in (since, until]: communications_updated_idx."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT DISTINCT operator_id, date_trunc('hour', call_started_at, 'UTC') AS hour
             FROM communications
            WHERE updated_at > $1 AND ($2::timestamptz IS NULL OR updated_at <= $2)
              AND call_started_at IS NOT NULL""", since, until)
    return rows


# The sums of one bucket's communications (c) of campaign tasks (t); the hour comes first, from the caller.
_SUMS_OF_BUCKET = """t.campaign_id, c.operator_id,
       coalesce(t.client_info->>'clientType', ''), coalesce(c.result_details->>'result', ''),
       coalesce(c.outcome, ''),
       count(*),
       count(*) FILTER (WHERE c.call_ended_at IS NOT NULL),
       coalesce(sum(greatest(0, extract(epoch FROM c.call_ended_at - c.call_started_at))), 0),
       count(*) FILTER (WHERE c.state = 'FIXED' AND NOT c.completed_late),
       coalesce(sum(greatest(0, extract(epoch FROM c.fixed_at - c.call_ended_at)))
                FILTER (WHERE c.state = 'FIXED' AND NOT c.completed_late), 0),
       count(*) FILTER (WHERE c.expired_at IS NOT NULL),
       count(*) FILTER (WHERE c.expired_at IS NOT NULL AND c.state = 'FIXED'),
       coalesce(sum(greatest(0, extract(epoch FROM c.fixed_at - c.expired_at)))
                FILTER (WHERE c.expired_at IS NOT NULL AND c.state = 'FIXED'), 0)"""
AGGREGATE_COLUMNS = ("hour, campaign_id, operator_id, segment, result, outcome, calls, ended, talk_seconds, "
                     "in_window, wrapup_seconds, expired, rework_done, rework_seconds")

_RECOMPUTE = f"""
INSERT INTO report_hourly ({AGGREGATE_COLUMNS})
SELECT b.hour, {_SUMS_OF_BUCKET}
  FROM unnest($1::bigint[], $2::timestamptz[]) AS b(operator_id, hour)
  JOIN communications c ON c.operator_id = b.operator_id
                       AND c.call_started_at >= b.hour AND c.call_started_at < b.hour + interval '1 hour'
  JOIN campaign_tasks t ON t.id = c.campaign_task_id
 GROUP BY 1, 2, 3, 4, 5, 6"""  # noqa: S608 - constant fragments of this module

#: Every bucket at once, from all communications: what a materialized view would hold (bench/reports.py
#: measures one against the incremental table; README "Reports").
ALL_BUCKETS_SQL = f"""
SELECT date_trunc('hour', c.call_started_at, 'UTC') AS hour, {_SUMS_OF_BUCKET}
  FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
 WHERE c.call_started_at IS NOT NULL
 GROUP BY 1, 2, 3, 4, 5, 6"""  # noqa: S608 - constant fragments of this module


REBUILD_TIMEOUT = 6 * 3600.0  # seconds: the pool's 30 s command timeout is for the everyday statements


async def rebuild_all(conn: Any) -> None:
    """The first build: every bucket from every communication in one statement (far cheaper than bucket by
    bucket over a big table; inside the caller's transaction)."""
    await conn.execute("DELETE FROM report_hourly")
    await conn.execute(f"INSERT INTO report_hourly ({AGGREGATE_COLUMNS}) {ALL_BUCKETS_SQL}",
                       timeout=REBUILD_TIMEOUT)


async def recompute(conn: Any, operators: list[int], hours: list[datetime]) -> None:
    """Replace the buckets' rows with sums recomputed from communications (idempotent; inside the caller's
    transaction). report_hourly_bucket_idx for the delete; the communications of a bucket are found by
    communications_operator_started_idx. A communication is in the hour its call started (the first call event,
    start or end, always sets call_started_at)."""
    await conn.execute(
        """DELETE FROM report_hourly r USING unnest($1::bigint[], $2::timestamptz[]) AS b(operator_id, hour)
            WHERE r.operator_id = b.operator_id AND r.hour = b.hour""", operators, hours)
    await conn.execute(_RECOMPUTE, operators, hours)


# -- KPI reads over the aggregate --------------------------------------------------------------------------

_SUMS = """sum(r.calls)::bigint AS calls, sum(r.ended)::bigint AS ended, sum(r.talk_seconds) AS talk_seconds,
           sum(r.in_window)::bigint AS in_window, sum(r.wrapup_seconds) AS wrapup_seconds,
           sum(r.expired)::bigint AS expired, sum(r.rework_done)::bigint AS rework_done,
           sum(r.rework_seconds) AS rework_seconds,
           sum(r.calls) FILTER (WHERE r.outcome IN ('SUCCESS', 'REFUSAL', 'DO_NOT_CALL'))::bigint AS contacts,
           sum(r.calls) FILTER (WHERE r.outcome = 'SUCCESS')::bigint AS successes,
           sum(r.calls) FILTER (WHERE r.outcome = 'NO_ANSWER')::bigint AS no_answer,
           sum(r.calls) FILTER (WHERE r.outcome = 'BUSY')::bigint AS busy,
           sum(r.calls) FILTER (WHERE r.outcome = 'DROPPED')::bigint AS dropped"""

# The filters every aggregate read takes: $1 start, $2 end, $3 campaign, $4 operator, $5 team, $6 outcome
# ('' = none). With a campaign: the primary key (campaign_id, hour, ...); without: report_hourly_hour_idx.
_WHERE = """r.hour >= $1 AND r.hour < $2
        AND ($3::bigint IS NULL OR r.campaign_id = $3)
        AND ($4::bigint IS NULL OR r.operator_id = $4)
        AND ($5::bigint IS NULL OR r.operator_id IN (SELECT id FROM operators WHERE team_id = $5))
        AND ($6::text IS NULL OR r.outcome = $6)"""

GROUPS = {
    "operator": ("r.operator_id", "r.operator_id::text",
                 "max(o.login) || ' — ' || max(o.last_name) || ' ' || max(o.first_name)"),
    "campaign": ("r.campaign_id", "r.campaign_id::text", "max(c.name)"),
    "team": ("o.team_id", "coalesce(o.team_id::text, '')", "coalesce(max(tm.name), '')"),
    "day": ("(r.hour AT TIME ZONE $7)::date", "((r.hour AT TIME ZONE $7)::date)::text",
            "((r.hour AT TIME ZONE $7)::date)::text"),
    "hour": ("date_trunc('hour', r.hour AT TIME ZONE $7)", "to_char(date_trunc('hour', r.hour AT TIME ZONE $7), "
             "'YYYY-MM-DD\"T\"HH24:00')", "to_char(date_trunc('hour', r.hour AT TIME ZONE $7), 'YYYY-MM-DD HH24:00')"),
    "hourOfDay": ("extract(hour FROM r.hour AT TIME ZONE $7)::int",
                  "extract(hour FROM r.hour AT TIME ZONE $7)::int::text",
                  "lpad(extract(hour FROM r.hour AT TIME ZONE $7)::int::text, 2, '0') || ':00'"),
    "total": ("", "''", "''"),  # one row, whatever matched
}


# Only the joins a grouping needs (the team filter is a subquery, operators_team_idx).
_JOINS = {"operator": "JOIN operators o ON o.id = r.operator_id",
          "campaign": "LEFT JOIN campaigns c ON c.id = r.campaign_id",
          "team": "JOIN operators o ON o.id = r.operator_id LEFT JOIN teams tm ON tm.id = o.team_id"}


def kpi_sql(group: str) -> str:
    expr, key, label = GROUPS[group]
    return f"""SELECT {key} AS key, {label} AS label, {_SUMS}
                 FROM report_hourly r {_JOINS.get(group, "")}
                WHERE {_WHERE} AND $7::text IS NOT NULL
                {f"GROUP BY {expr} ORDER BY {expr}" if expr else ""}"""  # noqa: S608


async def kpis(conn: Any, group: str, params: tuple[Any, ...], zone: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(kpi_sql(group), *params, zone)
    return rows


async def outcomes(conn: Any, params: tuple[Any, ...]) -> list[asyncpg.Record]:
    """The distribution of results by the taxonomy: status key and outcome."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT r.result, r.outcome, sum(r.calls)::bigint AS calls
              FROM report_hourly r
             WHERE {_WHERE}
             GROUP BY r.result, r.outcome ORDER BY calls DESC, r.result, r.outcome""", *params)  # noqa: S608
    return rows


HEATMAP_SQL = f"""
SELECT extract(isodow FROM r.hour AT TIME ZONE $7)::int AS weekday,
       extract(hour FROM r.hour AT TIME ZONE $7)::int AS hour,
       sum(r.calls)::bigint AS attempts,
       coalesce(sum(r.calls) FILTER (WHERE r.outcome IN ('SUCCESS', 'REFUSAL', 'DO_NOT_CALL')), 0)::bigint AS contacts,
       coalesce(sum(r.calls) FILTER (WHERE r.outcome = 'SUCCESS'), 0)::bigint AS successes
  FROM report_hourly r
 WHERE {_WHERE} AND ($8::text IS NULL OR r.segment = $8)
 GROUP BY 1, 2 ORDER BY 1, 2"""  # noqa: S608 - constant fragments of this module


async def heatmap(conn: Any, params: tuple[Any, ...], zone: str, segment: str | None) -> list[asyncpg.Record]:
    """Attempts, contacts and successes by ISO weekday × hour of day in the zone."""
    rows: list[asyncpg.Record] = await conn.fetch(HEATMAP_SQL, *params, zone, segment)
    return rows


async def segments(conn: Any, params: tuple[Any, ...]) -> list[str]:
    rows = await conn.fetch(
        f"""SELECT DISTINCT r.segment FROM report_hourly r
             WHERE {_WHERE} ORDER BY 1""", *params)  # noqa: S608
    return [r["segment"] for r in rows]


# -- reads of raw rows -------------------------------------------------------------------------------------

_CONTACTABILITY = """
SELECT t.phone, count(*)::bigint AS attempts,
       count(*) FILTER (WHERE c.outcome IN ('SUCCESS', 'REFUSAL', 'DO_NOT_CALL'))::bigint AS answered,
       count(*) FILTER (WHERE c.outcome = 'SUCCESS')::bigint AS successes,
       max(c.call_started_at) AS last_call_at
  FROM communications c
  JOIN campaign_tasks t ON t.id = c.campaign_task_id
 WHERE c.call_started_at >= $1 AND c.call_started_at < $2
   AND ($3::bigint IS NULL OR t.campaign_id = $3)
   AND ($4::bigint IS NULL OR c.operator_id = $4)
   AND ($5::bigint IS NULL OR c.operator_id IN (SELECT id FROM operators WHERE team_id = $5))
   AND ($6::text IS NULL OR c.outcome = $6)
 GROUP BY t.phone"""


def contactability_sql(limit: bool) -> str:
    """Per client (phone): answered ÷ attempts. communications_started_idx for the period."""
    if limit:
        return _CONTACTABILITY + " ORDER BY attempts DESC, t.phone LIMIT $7"
    return _CONTACTABILITY + " ORDER BY t.phone"


async def contactability(conn: Any, params: tuple[Any, ...], limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(contactability_sql(True), *params, limit)
    return rows


async def attempts_per_task(conn: Any, start: datetime, end: datetime, campaign_id: int | None) -> asyncpg.Record:
    """Tasks closed in the period (DONE with a reason) and their dials: campaign_tasks_done_idx."""
    row: asyncpg.Record = await conn.fetchrow(
        """SELECT count(*)::bigint AS tasks, coalesce(sum(attempts), 0)::bigint AS attempts
             FROM campaign_tasks
            WHERE task_state = 'DONE' AND close_reason IS NOT NULL AND updated_at >= $1 AND updated_at < $2
              AND ($3::bigint IS NULL OR campaign_id = $3)""", start, end, campaign_id)
    return row


async def leads_by_filter(conn: Any, start: datetime, end: datetime,
                          campaign_id: int | None) -> list[asyncpg.Record]:
    """Leads the campaigns' cascades decided on in runs that finished in the period, by filter and outcome
    (cascade_counts, recorded per batch by the cascade; a run's finished_at is when its last batch committed)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT k.campaign_id, k.filter, k.outcome, sum(k.n)::bigint AS n
             FROM cascade_runs r
             JOIN cascade_counts k ON k.import_id = r.import_id AND k.campaign_id = r.campaign_id
            WHERE r.state = 'done' AND r.finished_at >= $1 AND r.finished_at < $2
              AND ($3::bigint IS NULL OR r.campaign_id = $3)
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", start, end, campaign_id)
    return rows


DETAIL_SQL = """
SELECT c.id, to_char(c.call_started_at AT TIME ZONE $7, 'YYYY-MM-DD HH24:MI:SS') AS started,
       to_char(c.call_ended_at AT TIME ZONE $7, 'YYYY-MM-DD HH24:MI:SS') AS ended,
       t.campaign_id, cp.name AS campaign, c.operator_id, o.login, coalesce(tm.name, '') AS team,
       t.phone, coalesce(t.client_info->>'clientType', '') AS segment, c.state,
       coalesce(c.result_details->>'result', '') AS result, coalesce(c.outcome, '') AS outcome,
       round(extract(epoch FROM c.call_ended_at - c.call_started_at)::numeric, 1) AS talk_seconds,
       CASE WHEN c.state = 'FIXED' AND NOT c.completed_late
            THEN round(extract(epoch FROM c.fixed_at - c.call_ended_at)::numeric, 1) END AS wrapup_seconds,
       (c.state = 'FIXED' AND NOT c.completed_late) AS in_window,
       (c.expired_at IS NOT NULL) AS expired,
       CASE WHEN c.expired_at IS NOT NULL AND c.state = 'FIXED'
            THEN round(extract(epoch FROM c.fixed_at - c.expired_at)::numeric, 1) END AS rework_seconds
  FROM communications c
  JOIN campaign_tasks t ON t.id = c.campaign_task_id
  JOIN campaigns cp ON cp.id = t.campaign_id
  JOIN operators o ON o.id = c.operator_id
  LEFT JOIN teams tm ON tm.id = o.team_id
 WHERE c.call_started_at >= $1 AND c.call_started_at < $2
   AND ($3::bigint IS NULL OR t.campaign_id = $3)
   AND ($4::bigint IS NULL OR c.operator_id = $4)
   AND ($5::bigint IS NULL OR o.team_id = $5)
   AND ($6::text IS NULL OR c.outcome = $6)
 ORDER BY c.call_started_at, c.id"""
"""One row per communication of the period (the CSV export, read through a server-side cursor):
communications_started_idx walks the period in order."""


async def own_stats(conn: Any, operator_id: int, start: datetime, end: datetime) -> asyncpg.Record:
    """One operator's calls started in [start, end): communications_operator_started_idx."""
    row: asyncpg.Record = await conn.fetchrow(
        """SELECT count(*)::bigint AS calls,
                  count(*) FILTER (WHERE call_ended_at IS NOT NULL)::bigint AS ended,
                  coalesce(sum(extract(epoch FROM call_ended_at - call_started_at)), 0)::float8 AS talk_seconds,
                  count(*) FILTER (WHERE state = 'FIXED' AND NOT completed_late)::bigint AS in_window
             FROM communications
            WHERE operator_id = $1 AND call_started_at >= $2 AND call_started_at < $3""",
        operator_id, start, end)
    return row


async def rework_pending(conn: Any, operator_id: int) -> int:
    """The operator's rework list: communications_draft_idx."""
    value: int = await conn.fetchval(
        "SELECT count(*) FROM communications WHERE operator_id = $1 AND state = 'DRAFT'", operator_id)
    return value


async def choices(conn: Any) -> dict[str, list[asyncpg.Record]]:
    """What the filters offer: campaigns, teams, operators (small tables, read whole, at most 5000 each)."""
    return {
        "campaigns": await conn.fetch("SELECT id, name FROM campaigns ORDER BY name LIMIT 5000"),
        "teams": await conn.fetch("SELECT id, name FROM teams ORDER BY name LIMIT 5000"),
        "operators": await conn.fetch(
            """SELECT id, login, first_name, last_name, team_id FROM operators WHERE role = 'operator'
                ORDER BY last_name, first_name, id LIMIT 5000"""),
    }


# -- daily summaries ---------------------------------------------------------------------------------------


async def insert_summary(conn: Any, day: Any, payload: dict[str, Any]) -> bool:
    """False when the day's summary exists already (another worker, an earlier pass): the unique key decides."""
    inserted = await conn.fetchval(
        "INSERT INTO daily_summaries (day, payload) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING RETURNING true",
        day, payload)
    return bool(inserted)


async def unsent_summaries(conn: Any, max_attempts: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT day, payload, attempts FROM daily_summaries WHERE sent_at IS NULL AND attempts < $1
            ORDER BY day""", max_attempts)  # daily_summaries_unsent_idx
    return rows


async def claim_unsent(conn: Any, day: Any) -> asyncpg.Record | None:
    """The day's summary, locked for sending, unless it was sent meanwhile or another worker is sending it."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT day, payload, attempts FROM daily_summaries WHERE day = $1 AND sent_at IS NULL
            FOR UPDATE SKIP LOCKED""", day)
    return row


async def mark_sent(conn: Any, day: Any, error: str | None) -> None:
    await conn.execute(
        """UPDATE daily_summaries SET attempts = attempts + 1, last_error = $2,
                  sent_at = CASE WHEN $2::text IS NULL THEN now() END
            WHERE day = $1""", day, error)


async def list_summaries(conn: Any, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT day, created_at, sent_at, attempts, last_error FROM daily_summaries ORDER BY day DESC LIMIT $1""",
        limit)
    return rows


async def get_summary(conn: Any, day: Any) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT day, payload, created_at, sent_at, attempts, last_error FROM daily_summaries WHERE day = $1", day)
    return row
