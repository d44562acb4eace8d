"""SQL for the operators and teams tables. Lookups by login use the unique index on lower(login); a team's
operators operators_team_idx; team names teams_name_key (lower(name))."""

from __future__ import annotations

from typing import Any

import asyncpg

from backend.core.db import Executor

_COLUMNS = ("o.id, o.login, o.role, o.locked, o.first_name, o.last_name, o.team_id, o.created_at, o.updated_at, "
            "(SELECT t.name FROM teams t WHERE t.id = o.team_id) AS team_name")
_LIVE = """(SELECT count(*) FROM operator_sessions s
             WHERE s.operator_id = o.id AND s.revoked_at IS NULL
               AND s.idle_expires_at > now() AND s.absolute_expires_at > now()) AS live_sessions"""


async def get_by_id(db: Executor, operator_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF o" if for_update else ""
    return await db.fetchrow(f"SELECT {_COLUMNS}, {_LIVE} FROM operators o WHERE o.id = $1{lock}",  # noqa: S608
                             operator_id)


async def get_by_login(db: Executor, login: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_COLUMNS} FROM operators o WHERE lower(o.login) = lower($1)",  # noqa: S608
                             login)


async def list_all(db: Executor, *, role: str | None, team_id: int | None, limit: int,
                   offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {_COLUMNS}, {_LIVE}
              FROM operators o
             WHERE ($1::text IS NULL OR o.role = $1) AND ($2::bigint IS NULL OR o.team_id = $2)
             ORDER BY o.id LIMIT $3 OFFSET $4""",  # noqa: S608
        role, team_id, limit, offset,
    )


async def insert(db: Executor, *, login: str, password_hash: str, role: str, first_name: str,
                 last_name: str, team_id: int | None = None) -> asyncpg.Record | None:
    """Returns None when the login is taken (case-insensitively)."""
    return await db.fetchrow(
        f"""WITH o AS (
                INSERT INTO operators (login, password_hash, role, first_name, last_name, team_id)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (lower(login)) DO NOTHING
                RETURNING *)
            SELECT {_COLUMNS}, 0::bigint AS live_sessions FROM o""",  # noqa: S608
        login, password_hash, role, first_name, last_name, team_id,
    )


async def update_fields(db: Executor, operator_id: int, fields: dict[str, Any]) -> asyncpg.Record | None:
    allowed = {"locked", "password_hash", "role", "first_name", "last_name", "team_id"}
    assert fields and set(fields) <= allowed, fields
    names = sorted(fields)
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    return await db.fetchrow(
        f"""WITH o AS (UPDATE operators SET {assignments} WHERE id = $1 RETURNING *)
            SELECT {_COLUMNS}, {_LIVE} FROM o""",  # noqa: S608
        operator_id, *(fields[name] for name in names),
    )


async def other_active_admins(db: Executor, operator_id: int) -> int:
    """Unlocked admins besides this one, their rows locked so two admins cannot demote each other at once."""
    rows = await db.fetch(
        "SELECT id FROM operators WHERE role = 'admin' AND NOT locked AND id <> $1 ORDER BY id FOR UPDATE",
        operator_id)
    return len(rows)


# -- teams ---------------------------------------------------------------------------------------------------

_TEAM = "t.id, t.name, t.created_at, (SELECT count(*) FROM operators o WHERE o.team_id = t.id) AS members"


async def list_teams(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_TEAM} FROM teams t ORDER BY lower(t.name)")  # noqa: S608


async def get_team(db: Executor, team_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF t" if for_update else ""
    return await db.fetchrow(f"SELECT {_TEAM} FROM teams t WHERE t.id = $1{lock}", team_id)  # noqa: S608


async def insert_team(db: Executor, name: str) -> asyncpg.Record | None:
    """None when the name is taken (case-insensitively, teams_name_key)."""
    return await db.fetchrow(
        f"""WITH t AS (INSERT INTO teams (name) VALUES ($1) ON CONFLICT (lower(name)) DO NOTHING RETURNING *)
            SELECT {_TEAM} FROM t""", name)  # noqa: S608


async def rename_team(db: Executor, team_id: int, name: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"""WITH t AS (UPDATE teams SET name = $2 WHERE id = $1 RETURNING *) SELECT {_TEAM} FROM t""",  # noqa: S608
        team_id, name)


async def delete_team(db: Executor, team_id: int) -> bool:
    """Its operators stay, without a team (ON DELETE SET NULL)."""
    return await db.fetchval("DELETE FROM teams WHERE id = $1 RETURNING true", team_id) is not None
