"""SQL of the telephony process: its operators' provider sessions and the dial tasks it sends."""

from __future__ import annotations

import asyncpg

from backend.core.db import Executor


async def sessions_of(db: Executor, operator_ids: list[int]) -> list[asyncpg.Record]:
    """The provider sessions and cursors of operators whose leases we just took (primary key)."""
    return await db.fetch(
        """SELECT operator_id, provider_session_id, event_cursor FROM telephony_active_sessions
            WHERE operator_id = ANY($1::bigint[])""", operator_ids)


async def wanted_operators(db: Executor) -> set[int]:
    """Operators someone must poll or close: a live workstation session, or a provider session still open
    (operator_sessions_live_idx; telephony_active_sessions is one row per polled operator)."""
    rows = await db.fetch(
        """SELECT s.operator_id FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
            WHERE o.role = 'operator' AND NOT o.locked AND s.revoked_at IS NULL
              AND s.idle_expires_at > now() AND s.absolute_expires_at > now()
           UNION SELECT operator_id FROM telephony_active_sessions""")
    return {r["operator_id"] for r in rows}


async def any_lease_issued(db: Executor) -> bool:
    """Has any telephony process ever held a lease here? If not, nobody can still believe it holds one."""
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM telephony_leases)"))


async def take_tokens(db: Executor, operator_ids: list[int], holder: str) -> dict[int, int]:
    """A new fencing token for each operator whose lease we just took: one more than any before (the
    counter is here, in PostgreSQL, so no Redis restart can lower it). Waits for writes under the old
    token in flight (they hold the row FOR SHARE); every later write under it is refused."""
    rows = await db.fetch(
        """INSERT INTO telephony_leases (operator_id, token, holder)
           SELECT o.id, 1, $2 FROM operators o WHERE o.id = ANY($1::bigint[])
           ON CONFLICT (operator_id) DO UPDATE SET token = telephony_leases.token + 1, holder = $2,
                                                   acquired_at = now()
           RETURNING operator_id, token""", operator_ids, holder)
    return {r["operator_id"]: r["token"] for r in rows}


# A write about an operator's session first locks its lease row FOR SHARE and checks the token is still ours
# (the CTE "lease" below, by primary key): a lease taken meanwhile (take_tokens) either waits for this write
# or makes it refused; never both move on.


async def credentials(db: Executor, operator_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT coalesce(t.provider_login, o.login) AS login, coalesce(t.provider_secret, '') AS secret
             FROM operators o LEFT JOIN telephony_operators t ON t.operator_id = o.id WHERE o.id = $1""",
        operator_id)


async def save_session(db: Executor, operator_id: int, token: int, session_id: str) -> bool:
    """The operator's new provider session, polled from the start; False (nothing written) if the lease
    has moved on from ``token``."""
    return bool(await db.fetchval(
        """WITH lease AS (SELECT token FROM telephony_leases WHERE operator_id = $1 AND token = $2 FOR SHARE)
            INSERT INTO telephony_active_sessions (operator_id, provider_session_id, event_cursor, lease_token)
            SELECT $1, $3, '0', $2 FROM lease
            ON CONFLICT (operator_id) DO UPDATE SET provider_session_id = $3, event_cursor = '0',
                                                  last_request_at = now(), lease_token = $2
            RETURNING true""",
        operator_id, token, session_id))


async def forget_session(db: Executor, operator_id: int, token: int) -> bool:
    """False (nothing deleted) if the lease has moved on from ``token``."""
    return bool(await db.fetchval(
        """WITH lease AS (SELECT token FROM telephony_leases WHERE operator_id = $1 AND token = $2 FOR SHARE),
                 gone AS (DELETE FROM telephony_active_sessions
                           WHERE operator_id = $1 AND EXISTS (SELECT 1 FROM lease))
            SELECT EXISTS (SELECT 1 FROM lease)""", operator_id, token))


async def live_operators(db: Executor) -> set[int]:
    """Operators with a live workstation session (operator_sessions_live_idx)."""
    rows = await db.fetch(
        """SELECT DISTINCT s.operator_id FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
            WHERE o.role = 'operator' AND NOT o.locked AND s.revoked_at IS NULL
              AND s.idle_expires_at > now() AND s.absolute_expires_at > now()""")
    return {r["operator_id"] for r in rows}


async def save_cursor(db: Executor, operator_id: int, token: int, session_id: str, cursor: int,
                      ended_task_ids: list[str]) -> bool:
    """The new event cursor, and the provider tasks whose calls ended are DONE; False (nothing written) if
    the lease has moved on from ``token``. Run in the transaction of the dead letters that go with it."""
    held = await db.fetchval(
        """WITH lease AS (SELECT token FROM telephony_leases WHERE operator_id = $1 AND token = $2 FOR SHARE),
                 moved AS (UPDATE telephony_active_sessions
                              SET event_cursor = $4, last_request_at = now(), lease_token = $2
                            WHERE operator_id = $1 AND provider_session_id = $3 AND EXISTS (SELECT 1 FROM lease))
            SELECT EXISTS (SELECT 1 FROM lease)""",
        operator_id, token, session_id, str(cursor))
    if not held:
        return False
    if ended_task_ids:
        # telephony_tasks_provider_idx
        await db.execute(
            """UPDATE telephony_tasks SET task_state = 'DONE'
                WHERE task_type = 'ADD' AND provider_task_id = ANY($1::text[])""", ended_task_ids)
    return True


async def applied_events(db: Executor, event_ids: list[str]) -> list[str]:
    """Which of these call events a worker has applied (call_events_pkey)."""
    rows = await db.fetch("SELECT event_id FROM call_events WHERE event_id = ANY($1::varchar[])", event_ids)
    return [r["event_id"] for r in rows]


async def operator_states(db: Executor, operator_ids: list[int]) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT operator_id, state FROM operator_states WHERE operator_id = ANY($1::bigint[])", operator_ids)


async def add_task(db: Executor, telephony_task_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT tt.id, tt.task_state, tt.provider_task_id, tt.send_started_at, tt.created_at,
                  ct.id AS campaign_task_id, ct.phone
             FROM telephony_tasks tt JOIN campaign_tasks ct ON ct.id = tt.campaign_task_id
            WHERE tt.id = $1 AND tt.task_type = 'ADD'""", telephony_task_id)


async def sending(db: Executor, telephony_task_id: int) -> None:
    """Written before the ADD goes out: after a crash, the next attempt asks the provider first."""
    await db.execute(
        "UPDATE telephony_tasks SET send_started_at = now(), attempts = attempts + 1 WHERE id = $1",
        telephony_task_id)


async def task_sent(db: Executor, telephony_task_id: int, provider_task_id: str) -> None:
    await db.execute(
        """UPDATE telephony_tasks SET provider_task_id = $2, task_state = 'IN_PROGRESS', last_error = NULL
            WHERE id = $1 AND task_state <> 'DONE'""",
        telephony_task_id, provider_task_id)


async def task_failed(db: Executor, telephony_task_id: int, reason: str) -> None:
    """The provider answered a final error: recorded with its reason; the task is not sent again."""
    await db.execute("UPDATE telephony_tasks SET task_state = 'FAILED', last_error = $2 WHERE id = $1",
                     telephony_task_id, reason[:1000])


async def calls_to_check(db: Executor, older_than_seconds: float) -> list[asyncpg.Record]:
    """Every call still open with us (communication NEW, no end) for longer than this, current for its
    operator or not: its hang-up may be lost (communications_open_call_idx)."""
    return await db.fetch(
        """SELECT c.call_id, c.operator_id, c.campaign_task_id, t.phone, c.call_started_at,
                  extract(epoch FROM now() - c.call_started_at) AS seconds
             FROM communications c
             JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE c.state = 'NEW' AND c.call_ended_at IS NULL AND c.call_id IS NOT NULL
              AND c.call_started_at < now() - make_interval(secs => $1)
            ORDER BY c.call_started_at LIMIT 500""", older_than_seconds)


async def held_tasks(db: Executor, older_than_seconds: float, limit: int) -> list[asyncpg.Record]:
    """Dial tasks the provider should be holding, least recently checked first (telephony_tasks_held_idx)."""
    return await db.fetch(
        """SELECT tt.id, tt.campaign_task_id, tt.provider_task_id FROM telephony_tasks tt
             JOIN campaign_tasks ct ON ct.id = tt.campaign_task_id AND ct.task_state = 'IN_PROGRESS'
            WHERE tt.task_type = 'ADD' AND tt.task_state = 'IN_PROGRESS' AND tt.provider_task_id IS NOT NULL
              AND coalesce(tt.checked_at, tt.updated_at) < now() - make_interval(secs => $1)
            ORDER BY coalesce(tt.checked_at, tt.updated_at) LIMIT $2""", older_than_seconds, limit)


async def task_checked(db: Executor, telephony_task_id: int) -> None:
    await db.execute("UPDATE telephony_tasks SET checked_at = now() WHERE id = $1", telephony_task_id)


async def task_lost(db: Executor, telephony_task_id: int, campaign_task_id: int, why: str) -> int | None:
    """The provider no longer holds a task it accepted (it restarted, or dropped it): this ADD ends and a new
    one (a new idempotency key) is queued for the same campaign task. None if meanwhile it moved on."""
    done = await db.fetchval(
        """UPDATE telephony_tasks SET task_state = 'DONE', last_error = $2
            WHERE id = $1 AND task_state = 'IN_PROGRESS' RETURNING id""", telephony_task_id, why[:1000])
    if done is None:
        return None
    value = await db.fetchval(
        "INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'ADD') RETURNING id", campaign_task_id)
    return int(value)



async def delete_task(db: Executor, telephony_task_id: int) -> asyncpg.Record | None:
    """A DELETE with the ADD it cancels (telephony_tasks_campaign_task_idx)."""
    return await db.fetchrow(
        """SELECT d.id, d.task_state, a.id AS add_id, a.provider_task_id
             FROM telephony_tasks d
             LEFT JOIN telephony_tasks a ON a.campaign_task_id = d.campaign_task_id AND a.task_type = 'ADD'
            WHERE d.id = $1 AND d.task_type = 'DELETE'
            ORDER BY a.id DESC LIMIT 1""", telephony_task_id)


async def tasks_done(db: Executor, telephony_task_ids: list[int]) -> None:
    await db.execute("UPDATE telephony_tasks SET task_state = 'DONE' WHERE id = ANY($1::bigint[])", telephony_task_ids)
