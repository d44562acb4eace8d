"""Reports' SQL: the maintenance of the hourly aggregate and its two rollups, the KPI reads over them (each
from the coarsest that answers it), and the few reads of raw rows
(contactability, attempts per task, leads per filter, the detail export, an operator's own statistics).

Every period is a half-open UTC interval [start, end) computed by the service from days in OPERATOR_TIMEZONE;
"day" and "hour" groups are cut in that zone (``$zone``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

# What the outcome of a result says about the call (README "Reports").
CONTACT_OUTCOMES = ("SUCCESS", "REFUSAL", "DO_NOT_CALL")  # somebody answered
SUCCESS_OUTCOME = "SUCCESS"

# -- the aggregate's maintenance ---------------------------------------------------------------------------


async def watermark(conn: Any) -> datetime | None:
    value: datetime | None = await conn.fetchval("SELECT updated_to FROM report_watermark")
    return value


async def rollups_built(conn: Any) -> bool:
    """False until report_campaign_hourly and report_operator_daily are built (migration 0023 on a table
    maintained before it: the next pass builds them)."""
    return bool(await conn.fetchval("SELECT rollups_built FROM report_watermark"))


async def set_rollups_built(conn: Any) -> None:
    await conn.execute("UPDATE report_watermark SET rollups_built = true")


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

# The sums every aggregate holds, and how a coarser one adds up a finer one's rows (r).
SUM_COLUMNS = "calls, ended, talk_seconds, in_window, wrapup_seconds, expired, rework_done, rework_seconds"
# Seconds are added up as numeric (a float8 of up to 15 significant digits converts back to the decimal it
# came from): a sum is then the same whichever rows, fine or rolled up, it adds — float8 addition would round
# differently in another order, and a KPI near a rounding boundary would come out 0.1 s apart.
_ROLLUP_SUMS = """sum(r.calls), sum(r.ended), sum(r.talk_seconds::numeric), sum(r.in_window),
       sum(r.wrapup_seconds::numeric), sum(r.expired), sum(r.rework_done), sum(r.rework_seconds::numeric)"""
CAMPAIGN_HOURLY_COLUMNS = f"hour, campaign_id, segment, result, outcome, {SUM_COLUMNS}"
OPERATOR_DAILY_COLUMNS = f"day, campaign_id, operator_id, outcome, {SUM_COLUMNS}"

# The rollups from report_hourly (r): everything at once (the first build), or the buckets in $1/$2.
_CAMPAIGN_HOURLY_ALL = f"""
INSERT INTO report_campaign_hourly ({CAMPAIGN_HOURLY_COLUMNS})
SELECT r.hour, r.campaign_id, r.segment, r.result, r.outcome, {_ROLLUP_SUMS}
  FROM report_hourly r
 GROUP BY 1, 2, 3, 4, 5"""  # noqa: S608 - constant fragments of this module
_OPERATOR_DAILY_ALL = f"""
INSERT INTO report_operator_daily ({OPERATOR_DAILY_COLUMNS})
SELECT date_trunc('day', r.hour, 'UTC'), r.campaign_id, r.operator_id, r.outcome, {_ROLLUP_SUMS}
  FROM report_hourly r
 GROUP BY 1, 2, 3, 4"""  # noqa: S608 - constant fragments of this module
_CAMPAIGN_HOURLY_BUCKETS = f"""
INSERT INTO report_campaign_hourly ({CAMPAIGN_HOURLY_COLUMNS})
SELECT r.hour, r.campaign_id, r.segment, r.result, r.outcome, {_ROLLUP_SUMS}
  FROM unnest($1::bigint[], $2::timestamptz[]) AS b(campaign_id, hour)
  JOIN report_hourly r ON r.campaign_id = b.campaign_id AND r.hour = b.hour
 GROUP BY 1, 2, 3, 4, 5"""  # noqa: S608 - constant fragments of this module
_OPERATOR_DAILY_BUCKETS = f"""
INSERT INTO report_operator_daily ({OPERATOR_DAILY_COLUMNS})
SELECT b.day, r.campaign_id, r.operator_id, r.outcome, {_ROLLUP_SUMS}
  FROM unnest($1::bigint[], $2::timestamptz[]) AS b(operator_id, day)
  JOIN report_hourly r ON r.operator_id = b.operator_id
                      AND r.hour >= b.day AND r.hour < b.day + interval '24 hours'
 GROUP BY 1, 2, 3, 4"""  # noqa: S608 - constant fragments of this module


async def rebuild_all(conn: Any) -> None:
    """The first build: every bucket from every communication in one statement (far cheaper than bucket by
    bucket over a big table), then the rollups from it (inside the caller's transaction)."""
    await conn.execute("DELETE FROM report_hourly")
    await conn.execute(f"INSERT INTO report_hourly ({AGGREGATE_COLUMNS}) {ALL_BUCKETS_SQL}",
                       timeout=REBUILD_TIMEOUT)
    await rebuild_rollups(conn)


async def rebuild_rollups(conn: Any) -> None:
    """report_campaign_hourly and report_operator_daily from the whole of report_hourly (inside the caller's
    transaction; the installation migrated to 0023 builds them once this way)."""
    await conn.execute("DELETE FROM report_campaign_hourly")
    await conn.execute("DELETE FROM report_operator_daily")
    await conn.execute(_CAMPAIGN_HOURLY_ALL, timeout=REBUILD_TIMEOUT)
    await conn.execute(_OPERATOR_DAILY_ALL, timeout=REBUILD_TIMEOUT)


async def recompute(conn: Any, operators: list[int], hours: list[datetime]) -> None:
    """Replace the buckets' rows with sums recomputed from communications, then the rollups' buckets they are
    in from report_hourly: the (campaign, hour) of every row removed or written, and the (operator, UTC day)
    of every bucket (idempotent; inside the caller's transaction, which it serialises against another pass's
    with a transaction lock: an overlapping pass then deletes what this one wrote instead of colliding with
    it). report_hourly_bucket_idx for the delete; the communications of a bucket are found by
    communications_operator_started_idx; the rollups' buckets by their primary key / bucket index and
    report_hourly's primary key / report_hourly_bucket_idx. A communication is in the hour its call started
    (the first call event, start or end, always sets call_started_at)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('report buckets'))")
    gone = await conn.fetch(
        """DELETE FROM report_hourly r USING unnest($1::bigint[], $2::timestamptz[]) AS b(operator_id, hour)
            WHERE r.operator_id = b.operator_id AND r.hour = b.hour
           RETURNING r.campaign_id, r.hour""", operators, hours)
    made = await conn.fetch(_RECOMPUTE + " RETURNING campaign_id, hour", operators, hours)
    campaign_hours = sorted({(r["campaign_id"], r["hour"]) for r in (*gone, *made)})
    if campaign_hours:
        campaigns, at = [c for c, _ in campaign_hours], [h for _, h in campaign_hours]
        await conn.execute(
            """DELETE FROM report_campaign_hourly r
                USING unnest($1::bigint[], $2::timestamptz[]) AS b(campaign_id, hour)
                WHERE r.campaign_id = b.campaign_id AND r.hour = b.hour""", campaigns, at)
        await conn.execute(_CAMPAIGN_HOURLY_BUCKETS, campaigns, at)
    operator_days = sorted({(o, utc_day(h)) for o, h in zip(operators, hours, strict=True)})
    ops, days = [o for o, _ in operator_days], [d for _, d in operator_days]
    await conn.execute(
        """DELETE FROM report_operator_daily r USING unnest($1::bigint[], $2::timestamptz[]) AS b(operator_id, day)
            WHERE r.operator_id = b.operator_id AND r.day = b.day""", ops, days)
    await conn.execute(_OPERATOR_DAILY_BUCKETS, ops, days)


def utc_day(at: datetime) -> datetime:
    """The UTC midnight a moment's UTC day starts at (report_operator_daily.day)."""
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# -- KPI reads over the aggregates -------------------------------------------------------------------------
#
# Three tables hold the same sums at three grains; a read takes the coarsest that answers it:
# - report_campaign_hourly (no operators): whatever neither groups nor filters by operator or team;
# - report_operator_daily (per operator and UTC day, no segment or result): per operator / team / campaign
#   and totals filtered by operator or team. The period's days are the operators' (midnight in
#   OPERATOR_TIMEZONE, e.g. 21:00 UTC), so the UTC days wholly inside it come from this table and the hours
#   before the first and after the last UTC midnight (at most a day in all) from report_hourly: the same
#   hourly buckets, summed in a different order;
# - report_hourly: per day / hour with an operator or team filter, the outcome distribution and the heatmap
#   of an operator or a team.

HOURLY, CAMPAIGN_HOURLY, OPERATOR_DAILY = "report_hourly", "report_campaign_hourly", "report_operator_daily"

_SUMS = """sum(r.calls)::bigint AS calls, sum(r.ended)::bigint AS ended,
           sum(r.talk_seconds::numeric)::float8 AS talk_seconds,
           sum(r.in_window)::bigint AS in_window, sum(r.wrapup_seconds::numeric)::float8 AS wrapup_seconds,
           sum(r.expired)::bigint AS expired, sum(r.rework_done)::bigint AS rework_done,
           sum(r.rework_seconds::numeric)::float8 AS rework_seconds,
           sum(r.calls) FILTER (WHERE r.outcome IN ('SUCCESS', 'REFUSAL', 'DO_NOT_CALL'))::bigint AS contacts,
           sum(r.calls) FILTER (WHERE r.outcome = 'SUCCESS')::bigint AS successes,
           sum(r.calls) FILTER (WHERE r.outcome = 'NO_ANSWER')::bigint AS no_answer,
           sum(r.calls) FILTER (WHERE r.outcome = 'BUSY')::bigint AS busy,
           sum(r.calls) FILTER (WHERE r.outcome = 'DROPPED')::bigint AS dropped"""


def _where(alias: str, column: str, start: str = "$1", end: str = "$2", operators: bool = True) -> str:
    """The filters every aggregate read takes: $1 start, $2 end, $3 campaign, $4 operator, $5 team, $6 outcome
    (NULL = none). With a campaign: the table's primary key (campaign_id, hour or day, ...); without: its
    hour / day index. A table without operators is only read when $4 and $5 are NULL (said again here)."""
    a = alias
    who = (f"""($4::bigint IS NULL OR {a}.operator_id = $4)
        AND ($5::bigint IS NULL OR {a}.operator_id IN (SELECT id FROM operators WHERE team_id = $5))"""  # noqa: S608
           if operators else "$4::bigint IS NULL AND $5::bigint IS NULL")
    return f"""{a}.{column} >= {start} AND {a}.{column} < {end}
        AND ($3::bigint IS NULL OR {a}.campaign_id = $3)
        AND {who}
        AND ($6::text IS NULL OR {a}.outcome = $6)"""


# The first UTC midnight at or after the period's start, and the last at or before its end.
_FIRST_UTC_MIDNIGHT = "(date_trunc('day', $1::timestamptz - interval '1 microsecond', 'UTC') + interval '24 hours')"
_LAST_UTC_MIDNIGHT = "date_trunc('day', $2::timestamptz, 'UTC')"
_DAILY_COLUMNS = f"campaign_id, operator_id, outcome, {SUM_COLUMNS}"
_HEAD_END = f"least({_FIRST_UTC_MIDNIGHT}, $2::timestamptz)"
_OPERATOR_DAILY_SOURCE = f"""(
    SELECT {_DAILY_COLUMNS} FROM report_operator_daily d
     WHERE {_where("d", "day", _FIRST_UTC_MIDNIGHT, _LAST_UTC_MIDNIGHT)}
    UNION ALL
    SELECT {_DAILY_COLUMNS} FROM report_hourly h
     WHERE {_where("h", "hour", "$1", _HEAD_END)}
    UNION ALL
    SELECT {_DAILY_COLUMNS} FROM report_hourly h
     WHERE {_where("h", "hour", f"greatest({_LAST_UTC_MIDNIGHT}, {_HEAD_END})", "$2")}
) r"""  # noqa: S608 - constant fragments of this module

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
_NEED_OPERATORS = {"operator", "team"}
_NEED_HOURS = {"day", "hour", "hourOfDay"}


# Only the joins a grouping needs (the team filter is a subquery, operators_team_idx).
_JOINS = {"operator": "JOIN operators o ON o.id = r.operator_id",
          "campaign": "LEFT JOIN campaigns c ON c.id = r.campaign_id",
          "team": "JOIN operators o ON o.id = r.operator_id LEFT JOIN teams tm ON tm.id = o.team_id"}


def by_operator(params: tuple[Any, ...]) -> bool:
    """Whether the filters ($4 operator, $5 team) need a table with operators."""
    return params[3] is not None or params[4] is not None


def kpi_table(group: str, operators: bool) -> str:
    """The coarsest aggregate that answers a KPI read grouped by ``group``; ``operators``: filtered by an
    operator or a team."""
    if group in _NEED_OPERATORS or operators:
        return HOURLY if group in _NEED_HOURS else OPERATOR_DAILY
    return CAMPAIGN_HOURLY


def kpi_sql(group: str, table: str = HOURLY) -> str:
    """A KPI read of ``table`` ($1..$6 the filters, $7 the operators' zone)."""
    expr, key, label = GROUPS[group]
    if table == OPERATOR_DAILY:
        if group in _NEED_HOURS:
            raise ValueError(f"report_operator_daily has no hours to group by {group}")
        source, where = _OPERATOR_DAILY_SOURCE, "true"
    else:
        if table == CAMPAIGN_HOURLY and group in _NEED_OPERATORS:
            raise ValueError(f"report_campaign_hourly has no operators to group by {group}")
        source, where = f"{table} r", _where("r", "hour", operators=table == HOURLY)
    return f"""SELECT {key} AS key, {label} AS label, {_SUMS}
                 FROM {source} {_JOINS.get(group, "")}
                WHERE {where} AND $7::text IS NOT NULL
                {f"GROUP BY {expr} ORDER BY {expr}" if expr else ""}"""  # noqa: S608


def kpi_read(group: str, params: tuple[Any, ...]) -> str:
    """The KPI read of the filters ``params`` from the coarsest table that answers it."""
    return kpi_sql(group, kpi_table(group, by_operator(params)))


async def kpis(conn: Any, group: str, params: tuple[Any, ...], zone: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(kpi_read(group, params), *params, zone)
    return rows


def hourly_table(params: tuple[Any, ...]) -> str:
    """Reads by hour, segment or result (outcomes, heatmap, segments): without operators when it can."""
    return HOURLY if by_operator(params) else CAMPAIGN_HOURLY


def _hourly_where(table: str) -> str:
    return _where("r", "hour", operators=table == HOURLY)


async def outcomes(conn: Any, params: tuple[Any, ...]) -> list[asyncpg.Record]:
    """The distribution of results by the taxonomy: status key and outcome."""
    table = hourly_table(params)
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT r.result, r.outcome, sum(r.calls)::bigint AS calls
              FROM {table} r
             WHERE {_hourly_where(table)}
             GROUP BY r.result, r.outcome ORDER BY calls DESC, r.result, r.outcome""", *params)  # noqa: S608
    return rows


def heatmap_sql(table: str = HOURLY) -> str:
    return f"""
SELECT extract(isodow FROM r.hour AT TIME ZONE $7)::int AS weekday,
       extract(hour FROM r.hour AT TIME ZONE $7)::int AS hour,
       sum(r.calls)::bigint AS attempts,
       coalesce(sum(r.calls) FILTER (WHERE r.outcome IN ('SUCCESS', 'REFUSAL', 'DO_NOT_CALL')), 0)::bigint AS contacts,
       coalesce(sum(r.calls) FILTER (WHERE r.outcome = 'SUCCESS'), 0)::bigint AS successes
  FROM {table} r
 WHERE {_hourly_where(table)} AND ($8::text IS NULL OR r.segment = $8)
 GROUP BY 1, 2 ORDER BY 1, 2"""  # noqa: S608 - constant fragments of this module


async def heatmap(conn: Any, params: tuple[Any, ...], zone: str, segment: str | None) -> list[asyncpg.Record]:
    """Attempts, contacts and successes by ISO weekday × hour of day in the zone."""
    rows: list[asyncpg.Record] = await conn.fetch(heatmap_sql(hourly_table(params)), *params, zone, segment)
    return rows


async def segments(conn: Any, params: tuple[Any, ...]) -> list[str]:
    table = hourly_table(params)
    rows = await conn.fetch(
        f"""SELECT DISTINCT r.segment FROM {table} r
             WHERE {_hourly_where(table)} ORDER BY 1""", *params)  # noqa: S608
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
