"""SQL of administration: the role_permissions table (primary key role, permission) and reading the audit log.
The viewer pages newest first by id (keyset: id < beforeId); the filters use audit_log_actor_idx,
audit_log_action_idx, audit_log_target_idx, and audit_log_created_idx for a period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from backend.core.db import Executor


async def role_permissions(db: Executor, role: str, *, for_update: bool = False) -> set[str]:
    lock = " FOR UPDATE" if for_update else ""
    rows = await db.fetch(f"SELECT permission FROM role_permissions WHERE role = $1{lock}", role)  # noqa: S608
    return {r["permission"] for r in rows}


async def lock_role(db: Executor, role: str) -> None:
    """Serialises changes of one role's permissions (two admins editing at once)."""
    await db.execute("SELECT pg_advisory_xact_lock(hashtextextended('role_permissions:' || $1, 0))", role)


async def set_role_permissions(db: Executor, role: str, permissions: list[str]) -> None:
    await db.execute("DELETE FROM role_permissions WHERE role = $1 AND permission <> ALL($2::text[])", role,
                     permissions)
    await db.execute(
        """INSERT INTO role_permissions (role, permission) SELECT $1, p FROM unnest($2::text[]) AS p
           ON CONFLICT DO NOTHING""", role, permissions)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, first: int = 1) -> tuple[str, list[Any]]:
        clauses = [f"(${first}::bigint IS NULL OR a.actor_id = ${first})",
                   f"(${first + 1}::text IS NULL OR a.action = ${first + 1})",
                   f"(${first + 2}::text IS NULL OR a.target_type = ${first + 2})",
                   f"(${first + 3}::text IS NULL OR a.target_id = ${first + 3})",
                   f"(${first + 4}::timestamptz IS NULL OR a.created_at >= ${first + 4})",
                   f"(${first + 5}::timestamptz IS NULL OR a.created_at < ${first + 5})"]
        return " AND ".join(clauses), [self.actor_id, self.action, self.target_type, self.target_id, self.since,
                                       self.until]


_SELECT = """SELECT a.id, a.actor_id, coalesce(a.actor_login, o.login) AS actor_login, a.action, a.target_type,
                    a.target_id, a.client_addr, a.before, a.after, a.created_at
               FROM audit_log a LEFT JOIN operators o ON o.id = a.actor_id"""


async def audit_page(db: Executor, flt: AuditFilter, *, before_id: int | None, limit: int) -> list[asyncpg.Record]:
    where, args = flt.where(3)
    return await db.fetch(
        f"""{_SELECT}
             WHERE ($1::bigint IS NULL OR a.id < $1) AND {where}
             ORDER BY a.id DESC LIMIT $2""",
        before_id, limit, *args)


async def audit_stream(conn: Any, flt: AuditFilter, batch: int = 1000) -> AsyncIterator[asyncpg.Record]:
    """Every matching row, oldest first, through a server-side cursor (call inside a transaction): constant
    memory whatever the period."""
    where, args = flt.where(1)
    async for row in conn.cursor(f"{_SELECT} WHERE {where} ORDER BY a.id", *args,
                                 prefetch=batch):
        yield row
