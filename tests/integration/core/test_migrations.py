"""Migrations: concurrent starts apply each version once; the result history is append-only."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from backend.core.migrate import load_migrations, migrate
from tests.harness import unique, with_database


async def test_two_concurrent_migrators_apply_each_version_once(services):
    name = unique("tm_mig_")
    admin = await asyncpg.connect(services.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(services.admin_url, name)
        conns = [await asyncpg.connect(url) for _ in range(2)]
        results = await asyncio.gather(*(migrate(c) for c in conns))
        versions = [m.version for m in load_migrations()]  # in order; a gap (parallel branches) is fine
        assert sorted(len(r) for r in results) == [0, len(versions)]
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == versions
        assert await migrate(conns[0]) == []
        for c in conns:
            await c.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_saved_result_versions_cannot_be_overwritten(db, make_user):
    user = await make_user("operator")
    async with db.acquire() as conn:
        campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("c"))
        task = await conn.fetchval(
            "INSERT INTO campaign_tasks (campaign_id, phone) VALUES ($1, '79990001122') RETURNING id", campaign)
        comm = await conn.fetchval(
            "INSERT INTO communications (campaign_task_id, operator_id) VALUES ($1, $2) RETURNING id", task, user.id)
        version = await conn.fetchval(
            """INSERT INTO communication_result_versions (communication_id, operator_id, kind, details)
               VALUES ($1, $2, 'DRAFT', '{"comment": "клиент перезвонит"}') RETURNING id""", comm, user.id)
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("UPDATE communication_result_versions SET details = '{}' WHERE id = $1", version)
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("DELETE FROM communication_result_versions WHERE id = $1", version)
        kept = await conn.fetchval("SELECT details->>'comment' FROM communication_result_versions WHERE id = $1",
                                   version)
        assert kept == "клиент перезвонит"
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO campaign_tasks (campaign_id, phone) VALUES ($1, '+7 999 000')", campaign)


async def test_a_task_needs_its_campaign_which_keeps_it(db):
    """campaign_tasks.campaign_id is checked once per statement (migration 0022), with the foreign key's rule:
    a task of no campaign is refused (one bad row refuses the whole bulk entry), a task never changes campaign,
    and a campaign with tasks is never deleted or renumbered."""
    async with db.acquire() as conn:
        campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("c"))
        other = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("c"))
        missing = other + 1_000_000
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO campaign_tasks (campaign_id, phone) VALUES ($1, '79990001122')", missing)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                """INSERT INTO campaign_tasks (campaign_id, phone)
                   SELECT unnest($1::bigint[]), '79990001122'""", [campaign, missing])
        assert await conn.fetchval("SELECT count(*) FROM campaign_tasks WHERE campaign_id = $1", campaign) == 0
        task = await conn.fetchval(
            "INSERT INTO campaign_tasks (campaign_id, phone) VALUES ($1, '79990001122') RETURNING id", campaign)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE campaign_tasks SET campaign_id = $2 WHERE id = $1", task, other)
        await conn.execute("UPDATE campaign_tasks SET task_state = 'DONE' WHERE id = $1", task)  # other updates go
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE campaigns SET id = $2 WHERE id = $1", campaign, missing)
        empty = await conn.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("c"))
        await conn.execute("DELETE FROM campaigns WHERE id = $1", empty)  # a campaign without tasks may go
