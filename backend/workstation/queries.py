"""SQL of the workstation: communications, the card, operator state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Executor

# The whole card in one round trip: the communication with its task, campaign and operator, the phone's
# products (client_products_phone_idx) and its other communications (campaign_tasks_phone_idx, then
# communications_task_idx), newest first.
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
              JOIN communications hc ON hc.campaign_task_id = ht.id
              JOIN campaigns hcp ON hcp.id = ht.campaign_id
              JOIN operators ho ON ho.id = hc.operator_id
             WHERE ht.phone = t.phone AND hc.id <> c.id
             ORDER BY hc.created_at DESC LIMIT 50) h) AS history
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
    return await db.fetchrow(
        """SELECT c.id, c.state, c.result_details, c.draft_version, c.result_deadline, c.call_ended_at, t.phone
             FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE c.id = $1 AND c.operator_id = $2
              FOR UPDATE OF c""",
        communication_id, operator_id,
    )


async def add_version(db: Executor, communication_id: int, operator_id: int | None, kind: str,
                      details: dict[str, Any]) -> None:
    await db.execute(
        """INSERT INTO communication_result_versions (communication_id, operator_id, kind, details)
           VALUES ($1, $2, $3, $4)""",
        communication_id, operator_id, kind, details,
    )


async def store_draft(db: Executor, communication_id: int, details: dict[str, Any]) -> int:
    """The latest draft and its new version (the row is locked by the caller)."""
    return int(await db.fetchval(
        """UPDATE communications SET result_details = $2, draft_version = draft_version + 1
            WHERE id = $1 RETURNING draft_version""", communication_id, details))


async def current_communication(db: Executor, operator_id: int) -> tuple[int, int | None]:
    """The operator's event watermark (last seq) and current communication, read from one row: the
    operator's state and seq change together, so a snapshot read with them is consistent with the seq."""
    row = await db.fetchrow(
        """SELECT last_seq, CASE WHEN state IN ('ON_CALL', 'WRAP_UP') THEN communication_id END AS communication_id
             FROM operator_states WHERE operator_id = $1""", operator_id)  # primary key
    if row is None:
        return 0, None
    return int(row["last_seq"]), row["communication_id"]


async def open_deadline(db: Executor, communication_id: int) -> datetime | None:
    deadline: datetime | None = await db.fetchval(
        "SELECT result_deadline FROM communications WHERE id = $1 AND state = 'NEW'", communication_id)
    return deadline


async def set_state(db: Executor, operator_id: int, state: str, communication_id: int | None,
                    deadline: datetime | None) -> None:
    await db.execute(
        """INSERT INTO operator_states (operator_id, state, communication_id, wrap_up_deadline)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (operator_id) DO UPDATE
              SET state = $2, communication_id = $3, wrap_up_deadline = $4, updated_at = now()""",
        operator_id, state, communication_id, deadline,
    )


async def release_if_current(db: Executor, operator_id: int, communication_id: int) -> None:
    """The operator is free again, unless a newer call already made another communication current."""
    await db.execute(
        """UPDATE operator_states SET state = 'READY', communication_id = NULL, wrap_up_deadline = NULL,
                  updated_at = now()
            WHERE operator_id = $1 AND communication_id = $2 AND state IN ('ON_CALL', 'WRAP_UP')""",
        operator_id, communication_id,
    )


async def mark_online(db: Executor, operator_id: int) -> None:
    await db.execute(
        """INSERT INTO operator_states (operator_id, state) VALUES ($1, 'READY')
           ON CONFLICT (operator_id) DO UPDATE SET state = 'READY', updated_at = now()
            WHERE operator_states.state = 'OFFLINE'""", operator_id)


async def mark_offline_if_no_sessions(db: Executor, operator_id: int) -> bool:
    """True when the operator has no live session left (and is now OFFLINE unless on a call)."""
    await db.execute(
        """UPDATE operator_states SET state = 'OFFLINE', updated_at = now()
            WHERE operator_id = $1 AND state = 'READY'
              AND NOT EXISTS (SELECT 1 FROM operator_sessions s
                               WHERE s.operator_id = $1 AND s.revoked_at IS NULL
                                 AND s.idle_expires_at > now() AND s.absolute_expires_at > now())""",
        operator_id)
    return not await db.fetchval(
        """SELECT EXISTS (SELECT 1 FROM operator_sessions s WHERE s.operator_id = $1 AND s.revoked_at IS NULL
                             AND s.idle_expires_at > now() AND s.absolute_expires_at > now())""", operator_id)


async def mark_offline_without_sessions(db: Executor) -> int:
    """Operators whose sessions all ended without a logout (idle or absolute expiry) go OFFLINE."""
    result = await db.execute(
        """UPDATE operator_states st SET state = 'OFFLINE', updated_at = now()
            WHERE st.state = 'READY'
              AND NOT EXISTS (SELECT 1 FROM operator_sessions s
                               WHERE s.operator_id = st.operator_id AND s.revoked_at IS NULL
                                 AND s.idle_expires_at > now() AND s.absolute_expires_at > now())""")
    return int(result.split()[-1])


async def operator_states(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT o.id AS operator_id, o.login, o.first_name, o.last_name,
                  coalesce(s.state, 'OFFLINE') AS state, s.communication_id, s.wrap_up_deadline, s.updated_at
             FROM operators o LEFT JOIN operator_states s ON s.operator_id = o.id
            WHERE o.role = 'operator' AND NOT o.locked ORDER BY o.id""")
