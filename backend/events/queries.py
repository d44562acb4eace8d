"""SQL for the per-operator event log. seq comes from operator_states.last_seq, bumped in the same
transaction as the change the event reports, so seq is gap-free and ordered per operator."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from backend.core.db import Executor


async def append(conn: Executor, operator_id: int, event_type: str, data: dict[str, Any]) -> int:
    seq = await conn.fetchval(
        """INSERT INTO operator_states (operator_id, last_seq) VALUES ($1, 1)
           ON CONFLICT (operator_id) DO UPDATE SET last_seq = operator_states.last_seq + 1, updated_at = now()
           RETURNING last_seq""",
        operator_id,
    )
    await record(conn, operator_id, int(seq), event_type, data)
    return int(seq)


async def record(conn: Executor, operator_id: int, seq: int, event_type: str, data: dict[str, Any]) -> None:
    """The event under a seq already taken from operator_states.last_seq in this transaction (by append, or
    by a state change that bumps it itself: workstation.queries.enter_call_state)."""
    await conn.execute(
        "INSERT INTO operator_events (operator_id, seq, event_type, data) VALUES ($1, $2, $3, $4)",
        operator_id, seq, event_type, data,
    )


async def last_seq(conn: Executor, operator_id: int) -> int:
    value = await conn.fetchval("SELECT last_seq FROM operator_states WHERE operator_id = $1", operator_id)
    return int(value or 0)


async def events_between(conn: Executor, operator_id: int, after: int, upto: int) -> list[asyncpg.Record]:
    # primary key (operator_id, seq)
    return await conn.fetch(
        """SELECT seq, event_type, data FROM operator_events
            WHERE operator_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT 1000""",
        operator_id, after, upto,
    )


async def last_seqs(conn: Executor, operator_ids: list[int]) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT operator_id, last_seq FROM operator_states WHERE operator_id = ANY($1::bigint[])", operator_ids
    )
    return {r["operator_id"]: r["last_seq"] for r in rows}


async def event_types_since(conn: Executor, operator_id: int, after: int,
                            session_id: uuid.UUID) -> list[asyncpg.Record]:
    """For hasChanges: events after the poll cursor, and never from before this session began."""
    return await conn.fetch(
        """SELECT e.seq, e.event_type FROM operator_events e
            WHERE e.operator_id = $1 AND e.seq > $2
              AND e.created_at >= (SELECT created_at FROM operator_sessions WHERE id = $3)
            ORDER BY e.seq""",
        operator_id, after, session_id,
    )


async def prune(conn: Executor, hours: int, batch: int = 10_000) -> int:
    """One batch of events older than the retention (operator_events_created_idx); they hold client cards."""
    result = await conn.execute(
        """DELETE FROM operator_events WHERE (operator_id, seq) IN (
               SELECT operator_id, seq FROM operator_events
                WHERE created_at < now() - make_interval(hours => $1::int) LIMIT $2)""", hours, batch
    )
    return int(result.split()[-1])


async def sockets_seen(conn: Executor, operator_ids: list[int], grace_seconds: float) -> None:
    """These operators have an open workstation socket: present for another grace period (primary key of
    operator_liveness). In id order, so that two web processes writing at once cannot deadlock."""
    await conn.execute(
        """INSERT INTO operator_liveness (operator_id, seen_until)
           SELECT id, now() + make_interval(secs => $2) FROM unnest($1::bigint[]) AS id ORDER BY id
           ON CONFLICT (operator_id) DO UPDATE
              SET seen_until = greatest(operator_liveness.seen_until, EXCLUDED.seen_until)""",
        sorted(set(operator_ids)), grace_seconds)
