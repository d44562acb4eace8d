"""SQL of the supervisors' floor. Everything here runs once per change or per refresh in the one floor
computer (never per supervisor), or once per action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Executor

_OPERATOR_ROWS = """
SELECT o.id, o.login, o.first_name, o.last_name, o.locked, o.team_id, tm.name AS team_name,
       coalesce(s.state, 'OFFLINE') AS state, s.reason, s.state_since, s.pause_requested, s.wrap_up_deadline,
       s.communication_id, coalesce(s.last_seq, 0) AS last_seq,
       s.rework_communication_id, s.rework_since, s.rework_at,
       c.call_started_at, c.call_ended_at, t.campaign_id, cp.name AS campaign_name,
       d.drafts, d.oldest_draft
  FROM operators o
  LEFT JOIN teams tm ON tm.id = o.team_id
  LEFT JOIN operator_states s ON s.operator_id = o.id
  LEFT JOIN communications c ON c.id = s.communication_id
  LEFT JOIN campaign_tasks t ON t.id = c.campaign_task_id
  LEFT JOIN campaigns cp ON cp.id = t.campaign_id
  LEFT JOIN LATERAL (SELECT count(*) AS drafts, min(created_at) AS oldest_draft
                       FROM communications WHERE operator_id = o.id AND state = 'DRAFT') d ON true
 WHERE o.role = 'operator'"""


async def operator_rows(db: Executor, ids: list[int] | None = None) -> list[asyncpg.Record]:
    """The supervisor's row of each operator (all, or those named): operators, teams and operator_states by
    primary key; drafts by communications_draft_idx."""
    if ids is None:
        return await db.fetch(_OPERATOR_ROWS)
    return await db.fetch(_OPERATOR_ROWS + " AND o.id = ANY($1::bigint[])", ids)


async def state_fingerprints(db: Executor) -> list[asyncpg.Record]:
    """The sweep: what can change an operator's row without an operator event (a login, AWAY, OFFLINE, work
    on a rework card).
    operator_states has one row per operator: a sequential read of a small table."""
    return await db.fetch(
        """SELECT operator_id, state, reason, state_since, pause_requested, communication_id, last_seq,
                  rework_communication_id, rework_at
             FROM operator_states""")


async def operator_counters(db: Executor, today: datetime) -> list[asyncpg.Record]:
    """Calls today, results saved in the window today, and the last screen-pop of each operator, as of the
    same snapshot as ``last_seqs`` (the caller's REPEATABLE READ transaction). communications_created_idx."""
    return await db.fetch(
        """SELECT operator_id,
                  count(*) FILTER (WHERE created_at >= $1) AS calls,
                  count(*) FILTER (WHERE fixed_at >= $1 AND state = 'FIXED' AND NOT completed_late) AS in_window,
                  (array_agg(extract(epoch FROM created_at - call_started_at) ORDER BY created_at DESC)
                     FILTER (WHERE created_at >= $1))[1] AS last_pop
             FROM communications
            WHERE created_at >= $1 - interval '1 day'
            GROUP BY operator_id""", today)


async def campaign_calls_today(db: Executor, today: datetime) -> list[asyncpg.Record]:
    """Tasks done today (a task is done when its call reaches an operator) per campaign."""
    return await db.fetch(
        """SELECT t.campaign_id, count(*) AS calls
             FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE c.created_at >= $1 GROUP BY t.campaign_id""", today)


async def chart_since(db: Executor, since: datetime) -> list[asyncpg.Record]:
    """Calls and screen-pop latency per minute (communications_created_idx)."""
    return await db.fetch(
        """SELECT (extract(epoch FROM date_trunc('minute', created_at)) * 1000)::bigint AS minute,
                  count(*) AS calls,
                  coalesce(sum(extract(epoch FROM created_at - call_started_at)) * 1000, 0)::float8 AS pop_sum_ms,
                  coalesce(max(extract(epoch FROM created_at - call_started_at)) * 1000, 0)::float8 AS pop_max_ms
             FROM communications WHERE created_at >= $1 GROUP BY 1 ORDER BY 1""", since)


async def last_seqs(db: Executor) -> dict[int, int]:
    rows = await db.fetch("SELECT operator_id, last_seq FROM operator_states")
    return {r["operator_id"]: r["last_seq"] for r in rows}


async def cards(db: Executor, communication_ids: list[int]) -> list[asyncpg.Record]:
    """For the cards just pushed: their campaign, minute and screen-pop latency (primary keys)."""
    return await db.fetch(
        """SELECT c.id, c.operator_id, t.campaign_id,
                  (extract(epoch FROM date_trunc('minute', c.created_at)) * 1000)::bigint AS minute,
                  extract(epoch FROM c.created_at - c.call_started_at) AS pop
             FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE c.id = ANY($1::bigint[])""", communication_ids)


async def campaign_tiles(db: Executor, rate_minutes: int) -> list[asyncpg.Record]:
    """One aggregate for every campaign tile. Open tasks (recalls: NEW again after a dial, the campaign rules'
    recall): campaign_tasks_open_by_campaign_idx; recent dials
    and calls: telephony_tasks_created_idx and communications_created_idx over the last ``rate_minutes``;
    drafts: communications_draft_idx."""
    return await db.fetch(
        """WITH open AS (
               SELECT campaign_id,
                      count(*) FILTER (WHERE task_state = 'NEW') AS waiting,
                      count(*) FILTER (WHERE task_state = 'NEW' AND task_time <= now()) AS due,
                      count(*) FILTER (WHERE task_state = 'IN_PROGRESS') AS dialling,
                      count(*) FILTER (WHERE task_state = 'NEW' AND attempts > 0) AS recalls
                 FROM campaign_tasks WHERE task_state <> 'DONE' GROUP BY campaign_id),
           dials AS (
               SELECT t.campaign_id, count(*) AS dials
                 FROM telephony_tasks tt JOIN campaign_tasks t ON t.id = tt.campaign_task_id
                WHERE tt.task_type = 'ADD' AND tt.created_at >= now() - make_interval(mins => $1)
                GROUP BY t.campaign_id),
           answered AS (
               SELECT t.campaign_id, count(*) AS answered
                 FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
                WHERE c.created_at >= now() - make_interval(mins => $1)
                GROUP BY t.campaign_id),
           drafts AS (
               SELECT t.campaign_id, count(*) AS drafts, min(c.created_at) AS oldest_draft
                 FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
                WHERE c.state = 'DRAFT' GROUP BY t.campaign_id)
           SELECT c.id, c.name, coalesce(o.waiting, 0) AS waiting, coalesce(o.due, 0) AS due,
                  coalesce(o.dialling, 0) AS dialling, coalesce(o.recalls, 0) AS recalls,
                  coalesce(d.dials, 0) AS dials,
                  coalesce(a.answered, 0) AS answered, coalesce(r.drafts, 0) AS drafts, r.oldest_draft
             FROM campaigns c
             LEFT JOIN open o ON o.campaign_id = c.id
             LEFT JOIN dials d ON d.campaign_id = c.id
             LEFT JOIN answered a ON a.campaign_id = c.id
             LEFT JOIN drafts r ON r.campaign_id = c.id
            ORDER BY c.id""", rate_minutes)


async def lead_figures(db: Executor, today: datetime) -> list[asyncpg.Record]:
    """Leads that went through each campaign's filter cascade from runs begun today, per filter and outcome
    (the rules' cascade_counts; cascade_runs has one row per import and campaign: a small scan)."""
    return await db.fetch(
        """SELECT r.campaign_id, c.filter, c.outcome, sum(c.n)::bigint AS n
             FROM cascade_runs r
             JOIN cascade_counts c ON c.import_id = r.import_id AND c.campaign_id = r.campaign_id
            WHERE r.created_at >= $1
            GROUP BY r.campaign_id, c.filter, c.outcome""", today)


async def errors_last_minute(db: Executor) -> int:
    """Dead letters (dead_letters_created_idx) and dial tasks failed by the provider
    (telephony_tasks_failed_idx) in the last minute."""
    value = await db.fetchval(
        """SELECT (SELECT count(*) FROM dead_letters WHERE created_at >= now() - interval '1 minute')
                + (SELECT count(*) FROM telephony_tasks
                    WHERE task_state = 'FAILED' AND updated_at >= now() - interval '1 minute')""")
    return int(value or 0)


async def audit_page(db: Executor, target_id: int | None, limit: int) -> list[asyncpg.Record]:
    """The actions on operators of the audit log (as the view supervisor_audit names them), newest first;
    one operator's by audit_log_target_idx."""
    return await db.fetch(
        """SELECT a.id, a.actor_id, o.login AS actor_login,
                  CASE a.action WHEN 'operator.pause' THEN 'PAUSE' WHEN 'operator.unpause' THEN 'UNPAUSE'
                                ELSE 'END_SESSIONS' END AS action,
                  a.target_id::bigint AS target_id, a.client_addr, a.before, a.after, a.created_at
             FROM audit_log a JOIN operators o ON o.id = a.actor_id
            WHERE a.target_type = 'operator'
              AND a.action IN ('operator.pause', 'operator.unpause', 'operator.end_sessions')
              AND ($1::bigint IS NULL OR a.target_id = $1::bigint::text)
            ORDER BY a.id DESC LIMIT $2""", target_id, limit)


async def is_operator(db: Executor, operator_id: int) -> bool:
    return bool(await db.fetchval("SELECT true FROM operators WHERE id = $1 AND role = 'operator'", operator_id))


async def live_sessions(db: Executor, session_ids: list[Any]) -> set[Any]:
    """Which of these sessions are still live and still allowed to watch the floor (primary key look-ups):
    a permission taken from a role ends its open floor sockets at the next sweep, not at their next login."""
    rows = await db.fetch(
        """SELECT s.id FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
            WHERE s.id = ANY($1::uuid[]) AND s.revoked_at IS NULL AND NOT o.locked
              AND s.idle_expires_at > now() AND s.absolute_expires_at > now()
              AND EXISTS (SELECT 1 FROM role_permissions p
                           WHERE p.role = o.role AND p.permission = 'floor.view')""", session_ids)
    return {r["id"] for r in rows}
