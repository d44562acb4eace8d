"""Generated report data: communications written as the workstation writes them, at chosen moments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from tests.harness import unique
from tests.integration.rules.helpers import phone

MSK = ZoneInfo("Europe/Moscow")  # the operators' zone of the test stack (OPERATOR_TIMEZONE's default)
WINDOW = timedelta(seconds=60)


def local(text: str) -> datetime:
    """'2025-03-10 23:59:00' in Moscow time, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


async def campaign(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("report ")))


async def team(pool: asyncpg.Pool, *operators: int) -> int:
    team_id = int(await pool.fetchval("INSERT INTO teams (name) VALUES ($1) RETURNING id", unique("team ")))
    await pool.execute("UPDATE operators SET team_id = $1 WHERE id = ANY($2)", team_id, list(operators))
    return team_id


async def task(pool: asyncpg.Pool, campaign_id: int, client: str | None = None, segment: str | None = None,
               **columns: Any) -> tuple[int, str]:
    client = client or phone()
    info = {"clientType": segment} if segment else {}
    task_id = await pool.fetchval(
        """INSERT INTO campaign_tasks (campaign_id, phone, client_info, task_state, attempts, close_reason)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        campaign_id, client, info, columns.get("state", "DONE"), columns.get("attempts", 1),
        columns.get("close_reason"))
    return int(task_id), client


@dataclass
class Call:
    operator: int
    task: int
    started: datetime
    talk: float | None  # seconds; None: the call has not ended
    saved_after: float | None = None  # seconds after the end the result was saved (in the window if < 60)
    expired: bool = False  # the window passed first: the communication went to rework
    fixed_at: datetime | None = None  # when the rework was completed (with expired)
    result: str | None = None
    outcome: str | None = None


async def call(pool: asyncpg.Pool, c: Call) -> int:
    ended = c.started + timedelta(seconds=c.talk) if c.talk is not None else None
    deadline = ended + WINDOW if ended else None
    fixed_at = c.fixed_at
    if c.saved_after is not None and ended is not None:
        fixed_at = ended + timedelta(seconds=c.saved_after)
    state = "FIXED" if fixed_at is not None else ("DRAFT" if c.expired else "NEW")
    late = c.expired and fixed_at is not None
    details = {"result": c.result} if c.result else {}
    comm = await pool.fetchval(
        """INSERT INTO communications (campaign_task_id, operator_id, state, result_details, call_id, call_started_at,
                                      call_ended_at, result_deadline, fixed_at, completed_late, outcome, expired_at,
                                      created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $6) RETURNING id""",
        c.task, c.operator, state, details, unique("call-"), c.started, ended, deadline, fixed_at, late, c.outcome,
        deadline if c.expired else None)
    return int(comm)
