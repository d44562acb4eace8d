"""SQL for server-side sessions (seed TM$OPERATOR_AUTHS). Every lookup is by primary key (the JWT's jti)
or through operator_sessions_live_idx."""

from __future__ import annotations

import uuid

import asyncpg

from backend.core.db import Executor


async def credentials(db: Executor, login: str) -> asyncpg.Record | None:
    # operators_login_key (lower(login))
    return await db.fetchrow(
        "SELECT id, login, password_hash, role, locked FROM operators WHERE lower(login) = lower($1)", login
    )


async def set_password_hash(db: Executor, operator_id: int, password_hash: str) -> None:
    await db.execute("UPDATE operators SET password_hash = $2, updated_at = now() WHERE id = $1",
                     operator_id, password_hash)


async def insert_session(db: Executor, *, session_id: uuid.UUID, operator_id: int, idle_seconds: int,
                         absolute_seconds: int, client_addr: str | None,
                         user_agent: str | None) -> asyncpg.Record:
    row = await db.fetchrow(
        """INSERT INTO operator_sessions
               (id, operator_id, idle_expires_at, absolute_expires_at, client_addr, user_agent)
           VALUES ($1, $2, now() + make_interval(secs => $3), now() + make_interval(secs => $4), $5, $6)
           RETURNING created_at, idle_expires_at, absolute_expires_at""",
        session_id, operator_id, idle_seconds, absolute_seconds, client_addr, (user_agent or "")[:512] or None,
    )
    assert row is not None
    return row


# One round trip: read the live session with its operator and, when the idle expiry has moved by more
# than `granularity` seconds, slide it (so ordinary traffic writes at most once per granularity).
_AUTHENTICATE = """
WITH live AS (
    SELECT s.id, s.operator_id, s.idle_expires_at, s.absolute_expires_at,
           o.role, o.login, o.first_name, o.last_name
      FROM operator_sessions s
      JOIN operators o ON o.id = s.operator_id
     WHERE s.id = $1 AND s.revoked_at IS NULL AND NOT o.locked
       AND s.idle_expires_at > now() AND s.absolute_expires_at > now()
), touched AS (
    UPDATE operator_sessions s
       SET last_seen_at = now(),
           idle_expires_at = least(now() + make_interval(secs => $2::int), s.absolute_expires_at)
      FROM live
     WHERE s.id = live.id
       AND $4::boolean AND s.idle_expires_at < now() + make_interval(secs => $2::int - $3::int)
 RETURNING s.idle_expires_at
)
SELECT live.*, coalesce((SELECT idle_expires_at FROM touched), live.idle_expires_at) AS idle_until
  FROM live
"""


async def authenticate(db: Executor, session_id: uuid.UUID, *, idle_seconds: int, granularity: int,
                       slide: bool) -> asyncpg.Record | None:
    return await db.fetchrow(_AUTHENTICATE, session_id, idle_seconds, granularity, slide)


async def revoke_session(db: Executor, session_id: uuid.UUID, reason: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """UPDATE operator_sessions SET revoked_at = now(), revoked_reason = $2
            WHERE id = $1 AND revoked_at IS NULL
        RETURNING id, operator_id""",
        session_id, reason,
    )


async def revoke_operator_sessions(db: Executor, operator_id: int, reason: str) -> list[uuid.UUID]:
    # operator_sessions_live_idx
    rows = await db.fetch(
        """UPDATE operator_sessions SET revoked_at = now(), revoked_reason = $2
            WHERE operator_id = $1 AND revoked_at IS NULL
        RETURNING id""",
        operator_id, reason,
    )
    return [r["id"] for r in rows]




async def prune_sessions(db: Executor, days: int, batch: int) -> int:
    """One batch of sessions that ended (revoked, or past either expiry) more than ``days`` ago. A scan of
    operator_sessions, bounded by this very retention, once per housekeeping pass: an index on the end
    time would be rewritten by every slide of the idle expiry."""
    result = await db.execute(
        """DELETE FROM operator_sessions WHERE id IN (
               SELECT id FROM operator_sessions
                WHERE coalesce(revoked_at, least(idle_expires_at, absolute_expires_at))
                      < now() - make_interval(days => $1)
                LIMIT $2)""", days, batch)
    return int(result.split()[-1])
