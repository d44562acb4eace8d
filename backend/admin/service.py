"""Changing a role's permissions: validated against the catalogue, refused when it would lock admins out,
written with its audit row in one transaction, then announced to every web process (the version key)."""

from __future__ import annotations

import asyncpg

from backend.admin import queries
from backend.auth.audit import Actor
from backend.auth.permissions import CATALOGUE, PROTECTED, Permissions
from backend.core.errors import BadRequest, Conflict


async def set_role_permissions(pool: asyncpg.Pool, permissions: Permissions, role: str, wanted: list[str],
                               actor: Actor) -> list[str]:
    unknown = sorted(set(wanted) - set(CATALOGUE))
    if unknown:
        raise BadRequest(f"Unknown permission(s): {', '.join(unknown)}", code="UNKNOWN_PERMISSION",
                         field="permissions", data={"unknown": unknown})
    kept = sorted(set(wanted))
    missing = sorted(p for r, p in PROTECTED if r == role and p not in kept)
    if missing:
        raise Conflict(f"The {role} role always keeps {', '.join(missing)}: admins must not lock themselves out",
                       code="PERMISSION_PROTECTED", field="permissions", data={"protected": missing})
    async with pool.acquire() as conn, conn.transaction():
        await queries.lock_role(conn, role)
        before = sorted(await queries.role_permissions(conn, role))
        if before != kept:
            await queries.set_role_permissions(conn, role, kept)
            await actor.record(conn, "role.permissions", "role", role, {"permissions": before},
                               {"permissions": kept,
                                "granted": sorted(set(kept) - set(before)),
                                "revoked": sorted(set(before) - set(kept))})
    if before != kept:
        await permissions.changed()
    return kept
