"""SQL for the operators table. Lookups by login use the unique index on lower(login)."""

from __future__ import annotations

from typing import Any

import asyncpg

from backend.core.db import Executor

_COLUMNS = "id, login, role, locked, first_name, last_name, created_at, updated_at"


async def get_by_id(db: Executor, operator_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_COLUMNS} FROM operators WHERE id = $1", operator_id)  # noqa: S608


async def get_by_login(db: Executor, login: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_COLUMNS} FROM operators WHERE lower(login) = lower($1)", login)  # noqa: S608


async def list_all(db: Executor, *, role: str | None, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {_COLUMNS},
                   (SELECT count(*) FROM operator_sessions s
                     WHERE s.operator_id = o.id AND s.revoked_at IS NULL
                       AND s.idle_expires_at > now() AND s.absolute_expires_at > now()) AS live_sessions
              FROM operators o
             WHERE $1::text IS NULL OR role = $1
             ORDER BY id LIMIT $2 OFFSET $3""",  # noqa: S608
        role, limit, offset,
    )


async def insert(db: Executor, *, login: str, password_hash: str, role: str, first_name: str,
                 last_name: str) -> asyncpg.Record | None:
    """Returns None when the login is taken (case-insensitively)."""
    return await db.fetchrow(
        f"""INSERT INTO operators (login, password_hash, role, first_name, last_name)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (lower(login)) DO NOTHING
            RETURNING {_COLUMNS}""",  # noqa: S608
        login, password_hash, role, first_name, last_name,
    )


async def update_fields(db: Executor, operator_id: int, fields: dict[str, Any]) -> asyncpg.Record | None:
    allowed = {"locked", "password_hash", "role", "first_name", "last_name"}
    assert fields and set(fields) <= allowed, fields
    names = sorted(fields)
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    return await db.fetchrow(
        f"UPDATE operators SET {assignments} WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608
        operator_id, *(fields[name] for name in names),
    )
