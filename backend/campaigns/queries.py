"""SQL of the campaign admin API. Campaigns are few (a page by primary key); a campaign's tasks are paged
along campaign_tasks_campaign_idx (campaign_id, id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Executor

_CAMPAIGN = "id, name, description, created_at, updated_at"
_TASK = "id, campaign_id, phone, client_info, task_time, task_state, created_at, updated_at"


async def insert(db: Executor, name: str, description: str | None) -> asyncpg.Record | None:
    """None when the name is taken (campaigns_name_key)."""
    return await db.fetchrow(
        f"""INSERT INTO campaigns (name, description) VALUES ($1, $2)
            ON CONFLICT (name) DO NOTHING RETURNING {_CAMPAIGN}""", name, description)  # noqa: S608


async def list_page(db: Executor, *, limit: int, offset: int) -> list[asyncpg.Record]:
    # campaigns_pkey
    return await db.fetch(f"SELECT {_CAMPAIGN} FROM campaigns ORDER BY id LIMIT $1 OFFSET $2",  # noqa: S608
                          limit, offset)


async def get(db: Executor, campaign_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_CAMPAIGN} FROM campaigns WHERE id = $1", campaign_id)  # noqa: S608


async def task_counts(db: Executor, campaign_id: int) -> dict[str, int]:
    """Tasks of one campaign by state (campaign_tasks_campaign_idx)."""
    rows = await db.fetch("SELECT task_state, count(*) AS n FROM campaign_tasks WHERE campaign_id = $1 "
                          "GROUP BY task_state", campaign_id)
    return {r["task_state"]: int(r["n"]) for r in rows}


async def update(db: Executor, campaign_id: int, *, name: str | None, set_description: bool,
                 description: str | None) -> asyncpg.Record | None:
    """None when there is no such campaign; raises asyncpg.UniqueViolationError when the name is taken."""
    return await db.fetchrow(
        f"""UPDATE campaigns
               SET name = coalesce($2, name),
                   description = CASE WHEN $3 THEN $4 ELSE description END,
                   updated_at = now()
             WHERE id = $1 RETURNING {_CAMPAIGN}""",  # noqa: S608
        campaign_id, name, set_description, description)


async def list_tasks(db: Executor, campaign_id: int, *, state: str | None, limit: int,
                     offset: int) -> list[asyncpg.Record]:
    # campaign_tasks_campaign_idx (campaign_id, id): in order, filtered by state on the way
    return await db.fetch(
        f"""SELECT {_TASK} FROM campaign_tasks
             WHERE campaign_id = $1 AND ($2::text IS NULL OR task_state = $2)
             ORDER BY id LIMIT $3 OFFSET $4""",  # noqa: S608
        campaign_id, state, limit, offset)


async def enter_one(db: Executor, campaign_id: int, phone: str, client_info: dict[str, Any], task_time: datetime,
                    rules_version_id: int | None, priority: int, application_no: int | None) -> asyncpg.Record:
    """One client enters a campaign in one statement, with CampaignEntry.enter's semantics: the function
    campaign_enter_one (migration 0024; campaign_tasks_phone_idx). (task_id, delete_ids, deleted_tasks)."""
    row = await db.fetchrow("SELECT * FROM campaign_enter_one(NULL, $1, $2, $3, $4, $5, $6, $7)",
                            campaign_id, phone, client_info, task_time, rules_version_id, priority, application_no)
    assert row is not None
    return row
