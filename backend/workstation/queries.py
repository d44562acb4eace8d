"""SQL of the workstation: communications, the card, operator state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Executor

# The whole card in one round trip: the communication with its task, campaign and operator, the phone's
# products (client_products_phone_idx) and its other communications (campaign_tasks_phone_idx, then
# communications_task_idx), newest first; the result taxonomy of the task's rules version (its primary key),
# else of the campaign's latest (campaign_rule_versions_campaign_id_version_key).
# The client's history goes phone -> tasks (campaign_tasks_phone_idx) -> their communications
# (communications_task_idx) -> campaign and operator (primary keys) through LATERAL subqueries with LIMIT (which
# the planner does not flatten into joins), so each step is an index probe whatever the statistics say. As plain
# joins, a plan made without statistics (a new installation's growing tables, no ANALYZE yet) hash-joined
# sequential scans of every communication, then of every operator, into each screen pop, growing with the
# tables (2.3 ms a card at 3,000 communications, measured with pg_stat_statements under bench/supervisors.py).
_CARD = """
SELECT c.id, c.state, c.result_details, c.draft_version, c.call_started_at, c.created_at, c.operator_id,
       t.phone, t.client_info, cp.name AS campaign_name, cp.description AS campaign_description,
       o.first_name, o.last_name,
       (SELECT coalesce(json_agg(p ORDER BY p.start_time DESC), '[]'::json)
          FROM client_products p WHERE p.phone = t.phone) AS products,
       (SELECT coalesce(json_agg(h ORDER BY h.created_at DESC), '[]'::json) FROM (
            SELECT hc.id, hc.created_at, hc.call_started_at, hc.result_details, ht.phone,
                   hcp.name AS campaign_name, hcp.description AS campaign_description,
                   ho.first_name, ho.last_name
              FROM campaign_tasks ht
             CROSS JOIN LATERAL (SELECT * FROM communications x
                                  WHERE x.campaign_task_id = ht.id AND x.id <> c.id
                                  ORDER BY x.created_at DESC LIMIT 50) hc
             CROSS JOIN LATERAL (SELECT name, description FROM campaigns WHERE id = ht.campaign_id LIMIT 1) hcp
             CROSS JOIN LATERAL (SELECT first_name, last_name FROM operators WHERE id = hc.operator_id LIMIT 1) ho
             WHERE ht.phone = t.phone
             ORDER BY hc.created_at DESC LIMIT 50) h) AS history,
       (SELECT v.config->'result-taxonomy' FROM campaign_rule_versions v
         WHERE (t.rules_version_id IS NOT NULL AND v.id = t.rules_version_id)
            OR (t.rules_version_id IS NULL AND v.campaign_id = t.campaign_id)
         ORDER BY v.version DESC LIMIT 1) AS result_taxonomy
  FROM communications c
  JOIN campaign_tasks t ON t.id = c.campaign_task_id
  JOIN campaigns cp ON cp.id = t.campaign_id
  JOIN operators o ON o.id = c.operator_id
 WHERE c.id = $1 AND ($2::bigint IS NULL OR c.operator_id = $2)
"""


async def card_row(db: Executor, communication_id: int, operator_id: int | None) -> dict[str, Any] | None:
    row = await db.fetchrow(_CARD, communication_id, operator_id)
    return dict(row) if row else None


async def rework_list(db: Executor, operator_id: int) -> list[asyncpg.Record]:
    # communications_operator_open_idx
    return await db.fetch(
        """SELECT c.id, c.created_at, c.call_started_at, c.result_details, t.phone,
                  cp.name AS campaign_name, cp.description AS campaign_description, o.first_name, o.last_name,
                  coalesce(t.client_info->>'doId', t.client_info->>'applicationId',
                           (SELECT p.do_id FROM client_products p WHERE p.phone = t.phone
                             ORDER BY p.is_current DESC, p.start_time DESC LIMIT 1)) AS do_id
             FROM communications c
             JOIN campaign_tasks t ON t.id = c.campaign_task_id
             JOIN campaigns cp ON cp.id = t.campaign_id
             JOIN operators o ON o.id = c.operator_id
            WHERE c.operator_id = $1 AND c.state = 'DRAFT'
            ORDER BY c.created_at DESC LIMIT 500""",
        operator_id,
    )


async def rework_count(db: Executor, operator_id: int) -> int:
    return int(await db.fetchval(
        "SELECT count(*) FROM communications WHERE operator_id = $1 AND state = 'DRAFT'", operator_id))


async def lock_communication(db: Executor, communication_id: int, operator_id: int) -> asyncpg.Record | None:
    """The save's row lock. FOR NO KEY UPDATE, not FOR UPDATE: a call-event transaction that changes the
    operator's state row twice re-checks its foreign key to this communication (FOR KEY SHARE), which FOR
    UPDATE would block while the save waits for that state row: a deadlock (the fault suite's finding)."""
    return await db.fetchrow(
        """SELECT c.id, c.state, c.result_details, c.draft_version, c.result_deadline, c.call_ended_at, t.phone,
                  c.campaign_task_id
             FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE c.id = $1 AND c.operator_id = $2
              FOR NO KEY UPDATE OF c""",
        communication_id, operator_id,
    )


async def add_version(db: Executor, communication_id: int, operator_id: int | None, kind: str,
                      details: dict[str, Any]) -> None:
    await db.execute(
        """INSERT INTO communication_result_versions (communication_id, operator_id, kind, details)
           VALUES ($1, $2, $3, $4)""",
        communication_id, operator_id, kind, details,
    )


# The draft save in one statement (one round trip, no explicit transaction): the communication locked
# (FOR NO KEY UPDATE, as lock_communication says why), and only when it is the operator's, of this phone, not
# FIXED and (with a version) at that version, a version row added and the draft stored. The row as it was is
# always returned, so the caller tells which check failed; new_version is NULL when nothing was written.
# Primary keys of communications and campaign_tasks.
_SAVE_DRAFT = """
WITH c AS (
    SELECT c.id, c.state, c.result_details, c.draft_version, t.phone
      FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
     WHERE c.id = $1 AND c.operator_id = $2
       FOR NO KEY UPDATE OF c
), ok AS (
    SELECT id FROM c
     WHERE c.phone = $3 AND c.state <> 'FIXED' AND ($5::bigint IS NULL OR c.draft_version = $5)
), version AS (
    INSERT INTO communication_result_versions (communication_id, operator_id, kind, details)
    SELECT id, $2, 'DRAFT', $4 FROM ok
), stored AS (
    UPDATE communications SET result_details = $4, draft_version = communications.draft_version + 1
      FROM ok WHERE communications.id = ok.id
    RETURNING communications.draft_version
), rework AS (
    -- A rework card's draft (a DRAFT communication) shows its operator in rework on the supervisors' floor.
    UPDATE operator_states
       SET rework_since = CASE WHEN rework_communication_id = $1 THEN rework_since ELSE now() END,
           rework_communication_id = $1, rework_at = now()
     WHERE operator_id = $2 AND EXISTS (SELECT 1 FROM ok JOIN c USING (id) WHERE c.state = 'DRAFT')
)
SELECT c.state, c.result_details, c.draft_version, c.phone, (SELECT draft_version FROM stored) AS new_version
  FROM c
"""


async def save_draft(db: Executor, communication_id: int, operator_id: int, phone: str, details: dict[str, Any],
                     draft_version: int | None) -> asyncpg.Record | None:
    """None: not the operator's (or unknown). Else the row before the save and ``new_version`` (None when
    a check refused it)."""
    return await db.fetchrow(_SAVE_DRAFT, communication_id, operator_id, phone, details, draft_version)


_RECORD_CALL_EVENT = """
WITH ev AS (
    INSERT INTO call_events (event_id, event_type, call_id, operator_id, outcome, payload)
    VALUES ($1, $2, $3, $4, 'APPLIED', $5) ON CONFLICT (event_id) DO NOTHING RETURNING true AS fresh)
SELECT (SELECT fresh FROM ev) AS fresh,
       (SELECT phone FROM campaign_tasks WHERE id = $6 FOR UPDATE) AS task_phone,
       (SELECT role = 'operator' AND NOT locked FROM operators WHERE id = $4) AS operator_active,
       c.id AS comm_id, c.state AS comm_state, c.call_ended_at
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT id, state, call_ended_at FROM communications WHERE call_id = $3
                     FOR NO KEY UPDATE) c ON true
"""


async def record_call_event(db: Executor, event_id: str, event_type: str, call_id: str, operator_id: int,
                            payload: Any, campaign_task_id: int) -> asyncpg.Record:
    """A call event's first statement, one round trip where it was four: record the event id (``fresh`` is
    NULL when it was already known), lock the campaign task (its phone; NULL: no such task), whether the
    operator may take calls (NULL: unknown), and lock the call's communication if it exists (FOR NO KEY
    UPDATE, as lock_communication: foreign-key checks pass). Primary keys, call_events_pkey and
    communications' unique call_id. The locks are taken even for a repeated event id, which then only reads."""
    row = await db.fetchrow(_RECORD_CALL_EVENT, event_id, event_type, call_id, operator_id, payload,
                            campaign_task_id)
    assert row is not None
    return row


async def current_communication(db: Executor, operator_id: int) -> tuple[int, int | None]:
    """The operator's event watermark (last seq) and current communication, read from one row: the
    operator's state and seq change together, so a snapshot read with them is consistent with the seq."""
    row = await db.fetchrow(
        """SELECT last_seq, CASE WHEN state IN ('ON_CALL', 'WRAP_UP') THEN communication_id END AS communication_id
             FROM operator_states WHERE operator_id = $1""", operator_id)  # primary key
    if row is None:
        return 0, None
    return int(row["last_seq"]), row["communication_id"]


async def open_deadline(db: Executor, communication_id: int) -> tuple[datetime | None, datetime]:
    """The result deadline (if the window is open) and the database's clock it runs in (primary key)."""
    row = await db.fetchrow(
        """SELECT (SELECT result_deadline FROM communications WHERE id = $1 AND state = 'NEW') AS deadline,
                  clock_timestamp() AS now""", communication_id)
    assert row is not None
    return row["deadline"], row["now"]


async def enter_call_state(db: Executor, operator_id: int, state: str, communication_id: int,
                           deadline: datetime | None) -> int:
    """ON_CALL or WRAP_UP and the next event seq (operator_states.last_seq, see events.queries) in one
    statement, for the event that reports this change (CLIENT_CARD_READY, CALL_ENDED): a round trip fewer on
    every call event. A call that reaches a PAUSED operator (routed before the provider heard BUSY) leaves
    the pause to resume when it ends. Primary key."""
    seq = await db.fetchval(
        """INSERT INTO operator_states (operator_id, state, communication_id, wrap_up_deadline, last_seq)
           VALUES ($1, $2, $3, $4, 1)
           ON CONFLICT (operator_id) DO UPDATE
              SET state = $2, communication_id = $3, wrap_up_deadline = $4, updated_at = now(), reason = NULL,
                  pause_requested = CASE WHEN operator_states.state = 'PAUSED' THEN operator_states.reason
                                         ELSE operator_states.pause_requested END,
                  last_seq = operator_states.last_seq + 1
           RETURNING last_seq""",
        operator_id, state, communication_id, deadline,
    )
    return int(seq)


_OPEN_COMMUNICATION = """
WITH c AS (
    INSERT INTO communications (campaign_task_id, operator_id, call_id, call_started_at)
    VALUES ($1, $2, $3, $4) RETURNING id),
t AS (UPDATE campaign_tasks SET task_state = 'DONE' WHERE id = $1)
SELECT (SELECT id FROM c) AS id, prev.id AS previous_id,
       coalesce(prev.state = 'NEW' AND prev.call_ended_at IS NULL, false) AS previous_open
  FROM (SELECT 1) one
  LEFT JOIN operator_states s ON s.operator_id = $2 AND s.state IN ('ON_CALL', 'WRAP_UP')
  LEFT JOIN communications prev ON prev.id = s.communication_id
"""


async def open_communication(db: Executor, campaign_task_id: int, operator_id: int, call_id: str,
                             started_at: datetime) -> asyncpg.Record:
    """A started call's communication and its task DONE, with the operator's current communication before it
    (``previous_open``: still NEW and not ended, so superseded by this call) — one round trip where it was
    four. Primary keys."""
    row = await db.fetchrow(_OPEN_COMMUNICATION, campaign_task_id, operator_id, call_id, started_at)
    assert row is not None
    return row


async def release_if_current(db: Executor, operator_id: int, communication_id: int) -> asyncpg.Record | None:
    """The operator is free again, unless a newer call already made another communication current: PAUSED
    if they asked for a pause during the call, else READY while a workstation socket is alive
    (operator_liveness primary key), else AWAY. Returns the new state (None when nothing changed)."""
    return await db.fetchrow(
        """UPDATE operator_states st
              SET state = CASE WHEN st.pause_requested IS NOT NULL THEN 'PAUSED'
                               WHEN EXISTS (SELECT 1 FROM operator_liveness l
                                             WHERE l.operator_id = st.operator_id AND l.seen_until > now())
                               THEN 'READY' ELSE 'AWAY' END,
                  reason = st.pause_requested, pause_requested = NULL,
                  communication_id = NULL, wrap_up_deadline = NULL, updated_at = now()
            WHERE operator_id = $1 AND communication_id = $2 AND state IN ('ON_CALL', 'WRAP_UP')
        RETURNING state, reason, state_since, pause_requested""",
        operator_id, communication_id,
    )


# -- presence ---------------------------------------------------------------------------------------------


async def lock_presence(db: Executor, operator_id: int) -> None:
    """Serialises one operator's login, logout and lapse checks (until the transaction ends), so a login
    racing a logout never leaves a logged-in operator OFFLINE."""
    await db.execute("SELECT pg_advisory_xact_lock(hashtextextended('presence:' || $1::bigint::text, 0))", operator_id)


async def has_live_session(db: Executor, operator_id: int) -> bool:
    # operator_sessions_live_idx
    return bool(await db.fetchval(
        """SELECT EXISTS (SELECT 1 FROM operator_sessions s WHERE s.operator_id = $1 AND s.revoked_at IS NULL
                             AND s.idle_expires_at > now() AND s.absolute_expires_at > now())""", operator_id))


async def grant_grace(db: Executor, operator_id: int, seconds: float) -> None:
    """Count the operator as present for one grace period (login, setReady), as an open socket does."""
    await db.execute(
        """INSERT INTO operator_liveness (operator_id, seen_until) VALUES ($1, now() + make_interval(secs => $2))
           ON CONFLICT (operator_id) DO UPDATE
              SET seen_until = greatest(operator_liveness.seen_until, EXCLUDED.seen_until)""",
        operator_id, seconds)


async def mark_online(db: Executor, operator_id: int) -> None:
    """Login: an OFFLINE operator becomes READY (any other state is theirs to change)."""
    await db.execute(
        """INSERT INTO operator_states (operator_id, state) VALUES ($1, 'READY')
           ON CONFLICT (operator_id) DO UPDATE
              SET state = 'READY', reason = NULL, pause_requested = NULL, updated_at = now()
            WHERE operator_states.state = 'OFFLINE'""", operator_id)


async def mark_offline(db: Executor, operator_id: int, communication_id: int | None) -> bool:
    """OFFLINE, unless a call that began meanwhile made another communication current (primary key)."""
    result = await db.execute(
        """UPDATE operator_states SET state = 'OFFLINE', reason = NULL, pause_requested = NULL,
                  communication_id = NULL, wrap_up_deadline = NULL, updated_at = now()
            WHERE operator_id = $1 AND communication_id IS NOT DISTINCT FROM $2""",
        operator_id, communication_id)
    return result != "UPDATE 0" or await db.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM operator_states WHERE operator_id = $1)", operator_id)


async def operators_without_sessions(db: Executor) -> list[int]:
    """Operators not OFFLINE whose sessions all ended without a logout (idle or absolute expiry, or a lock
    by the CLI). A scan of operator_states (one row per operator) with operator_sessions_live_idx."""
    rows = await db.fetch(
        """SELECT st.operator_id FROM operator_states st
            WHERE st.state <> 'OFFLINE'
              AND NOT EXISTS (SELECT 1 FROM operator_sessions s
                               WHERE s.operator_id = st.operator_id AND s.revoked_at IS NULL
                                 AND s.idle_expires_at > now() AND s.absolute_expires_at > now())""")
    return [r["operator_id"] for r in rows]


async def operator_state(db: Executor, operator_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT state, reason, state_since, pause_requested FROM operator_states WHERE operator_id = $1", operator_id)


async def set_ready(db: Executor, operator_id: int) -> asyncpg.Record | None:
    """READY now, or (during a call) drop a requested pause. None when nothing changed."""
    return await db.fetchrow(
        """INSERT INTO operator_states (operator_id, state) VALUES ($1, 'READY')
            ON CONFLICT (operator_id) DO UPDATE
               SET state = CASE WHEN operator_states.state IN ('ON_CALL', 'WRAP_UP') THEN operator_states.state
                                ELSE 'READY' END,
                   reason = NULL, pause_requested = NULL, updated_at = now()
             WHERE operator_states.state NOT IN ('READY', 'ON_CALL', 'WRAP_UP')
                OR operator_states.pause_requested IS NOT NULL
         RETURNING state, reason, state_since, pause_requested""", operator_id)


async def set_pause(db: Executor, operator_id: int, reason: str) -> asyncpg.Record | None:
    """PAUSED with the reason now, or (during a call) once the call and its result window are over.
    None when nothing changed."""
    return await db.fetchrow(
        """INSERT INTO operator_states (operator_id, state, reason) VALUES ($1, 'PAUSED', $2::text)
            ON CONFLICT (operator_id) DO UPDATE
               SET state = CASE WHEN operator_states.state IN ('ON_CALL', 'WRAP_UP') THEN operator_states.state
                                ELSE 'PAUSED' END,
                   reason = CASE WHEN operator_states.state IN ('ON_CALL', 'WRAP_UP') THEN NULL ELSE $2::text END,
                   pause_requested = CASE WHEN operator_states.state IN ('ON_CALL', 'WRAP_UP') THEN $2::text END,
                   updated_at = now()
             WHERE NOT (operator_states.state = 'PAUSED' AND operator_states.reason = $2::text)
               AND NOT (operator_states.state IN ('ON_CALL', 'WRAP_UP')
                        AND operator_states.pause_requested IS NOT DISTINCT FROM $2::text)
         RETURNING state, reason, state_since, pause_requested""", operator_id, reason)


async def mark_away(db: Executor, limit: int = 500) -> list[asyncpg.Record]:
    """READY or PAUSED operators with no live socket for the grace period become AWAY. A scan of
    operator_states (one row per operator) and operator_liveness by primary key; SKIP LOCKED so that a
    row busy with a call event is simply taken at the next pass."""
    return await db.fetch(
        """WITH gone AS (
                SELECT st.operator_id FROM operator_states st
                 WHERE st.state IN ('READY', 'PAUSED')
                   AND NOT EXISTS (SELECT 1 FROM operator_liveness l
                                    WHERE l.operator_id = st.operator_id AND l.seen_until > now())
                 ORDER BY st.operator_id LIMIT $1 FOR UPDATE OF st SKIP LOCKED)
            UPDATE operator_states st SET state = 'AWAY', reason = NULL, updated_at = now()
              FROM gone WHERE st.operator_id = gone.operator_id
         RETURNING st.operator_id, st.state, st.reason, st.state_since, st.pause_requested""", limit)


async def prune_call_events(db: Executor, days: int, batch: int) -> int:
    """One batch of call events older than the retention (call_events_received_idx)."""
    result = await db.execute(
        """DELETE FROM call_events WHERE event_id IN (
               SELECT event_id FROM call_events WHERE received_at < now() - make_interval(days => $1)
                LIMIT $2)""", days, batch)
    return int(result.split()[-1])


async def operator_states(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT o.id AS operator_id, o.login, o.first_name, o.last_name,
                  coalesce(s.state, 'OFFLINE') AS state, s.reason, s.state_since, s.pause_requested,
                  s.communication_id, s.wrap_up_deadline, s.updated_at
             FROM operators o LEFT JOIN operator_states s ON s.operator_id = o.id
            WHERE o.role = 'operator' AND NOT o.locked ORDER BY o.id""")


async def has_result_taxonomy(db: Executor, communication_id: int, operator_id: int) -> bool:
    """Does the campaign rules version of this (operator's own) communication's task carry a result taxonomy?
    Primary keys, then the task's version (pkey) or the campaign's latest (campaign_rule_versions' unique
    (campaign_id, version))."""
    found = await db.fetchval(
        """SELECT jsonb_typeof(v.config->'result-taxonomy') = 'array'
                  AND jsonb_array_length(v.config->'result-taxonomy') > 0
             FROM communications c
             JOIN campaign_tasks t ON t.id = c.campaign_task_id
             JOIN LATERAL (SELECT config FROM campaign_rule_versions
                            WHERE (t.rules_version_id IS NOT NULL AND id = t.rules_version_id)
                               OR (t.rules_version_id IS NULL AND campaign_id = t.campaign_id)
                            ORDER BY version DESC LIMIT 1) v ON true
            WHERE c.id = $1 AND c.operator_id = $2""", communication_id, operator_id)
    return bool(found)


async def mark_rework(db: Executor, operator_id: int, communication_id: int) -> None:
    """The operator works this rework card now (opened it, saved its draft): the supervisors' floor shows
    them in rework. ``rework_since`` stays while it is the same card (operator_states primary key)."""
    await db.execute(
        """UPDATE operator_states
              SET rework_since = CASE WHEN rework_communication_id = $2 THEN rework_since ELSE now() END,
                  rework_communication_id = $2, rework_at = now()
            WHERE operator_id = $1""", operator_id, communication_id)


async def clear_rework(db: Executor, operator_id: int, communication_id: int) -> None:
    """The rework card's result is fixed: the operator is no longer in rework on it."""
    await db.execute(
        """UPDATE operator_states SET rework_communication_id = NULL, rework_since = NULL, rework_at = NULL
            WHERE operator_id = $1 AND rework_communication_id = $2""", operator_id, communication_id)
