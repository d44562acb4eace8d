"""Permissions per role, changed by admins (seed 003 "admin manages role permissions").

The catalogue below is fixed in code: each permission names one kind of action, and each admin or supervisor
route is guarded by one (``require_permission``; ``tests/unit/test_routes_guarded.py`` holds every
``/api/admin`` and ``/api/supervisor`` route to it). Which role has which permission is data
(``role_permissions``), seeded with today's behaviour and edited on the admin page.

Every web process caches the table. A change increments the version key ``<prefix>permissions:version`` in
Redis in the same request that commits it; a guard reads that key (one GET) and reloads the table from
PostgreSQL when it moved, so a revoked permission refuses the very next request on every process. Without
Redis the cache is trusted for PERMISSIONS_MAX_AGE_SECONDS, then re-read from PostgreSQL (the source of truth).

Lock-out: ``permissions.manage`` and ``users.manage`` can never be taken from the admin role (PROTECTED), and
the last unlocked admin can be neither demoted nor locked (``operators.service``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from backend.auth.service import Principal
from backend.core.db import Executor
from backend.core.errors import Forbidden, Unauthorized
from backend.core.settings import Settings

log = logging.getLogger("backend.permissions")

#: permission -> what it allows (the admin page shows these, translated).
CATALOGUE: dict[str, str] = {
    "floor.view": "See the live floor and operators' states",
    "floor.control": "Pause, unpause and end the sessions of operators; see what supervisors did",
    "users.view": "List users and teams",
    "users.manage": "Create, edit, lock, unlock users, reset passwords, end sessions; manage teams",
    "permissions.manage": "Change which role has which permission",
    "audit.view": "View and export the audit log",
    "campaigns.view": "See campaigns and their tasks",
    "campaigns.manage": "Create and change campaigns, add tasks",
    "rules.view": "See campaign rules and the cascade's results",
    "rules.manage": "Change campaign rules",
    "dnc.view": "See the do-not-call list",
    "dnc.manage": "Change the do-not-call list",
    "bookings.view": "See bookings",
    "bookings.manage": "Book and release clients",
    "leads.import": "Upload lead files and see imports",
    "reports.view": "See reports and statistics",
    "reports.export": "Export reports as CSV",
    "integrations.manage": "Manage integration clients, their keys and their outcome pushes",
}
ROLES = ("operator", "supervisor", "analyst", "admin")
#: What the admin role always keeps, so admins can never lock themselves out.
PROTECTED = {("admin", "permissions.manage"), ("admin", "users.manage")}

Grants = dict[str, frozenset[str]]


async def load(db: Executor) -> Grants:
    rows = await db.fetch("SELECT role, permission FROM role_permissions")  # the primary key, ~60 rows
    out: dict[str, set[str]] = {role: set() for role in ROLES}
    for row in rows:
        out.setdefault(row["role"], set()).add(row["permission"])
    return {role: frozenset(perms) for role, perms in out.items()}


class Permissions:
    """One per web process (``app.state.permissions``)."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._key = f"{settings.redis_key_prefix}permissions:version"
        self._max_age = settings.permissions_max_age_seconds
        self._grants: Grants | None = None
        self._version: Any = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def grants(self) -> Grants:
        version: Any
        try:
            version = await self._redis.get(self._key)
            # The age bound holds even when the version matches: a lost INCR (a Redis blip, a restart without
            # persistence, a failover) must not keep a revoked grant alive past PERMISSIONS_MAX_AGE_SECONDS.
            fresh = (self._grants is not None and version == self._version
                     and time.monotonic() - self._loaded_at < self._max_age)
        except (aioredis.RedisError, OSError) as exc:  # no Redis: trust the cache for a while
            log.debug("permissions version unreadable: %s", exc)
            version = self._version
            fresh = self._grants is not None and time.monotonic() - self._loaded_at < self._max_age
        if fresh and self._grants is not None:
            return self._grants
        async with self._lock:
            grants = await load(self._pool)
            self._grants, self._version, self._loaded_at = grants, version, time.monotonic()
        return grants

    async def allowed(self, role: str, permission: str) -> bool:
        return permission in (await self.grants()).get(role, frozenset())

    async def changed(self) -> None:
        """After a committed change: drop this process's copy and move the version every process reads."""
        self._grants = None
        try:
            # A random value, not INCR: a counter that restarted from zero could climb back to a version a
            # process cached before, and that process would keep its old grants.
            await self._redis.set(self._key, uuid.uuid4().hex)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("permissions changed but the version key could not be moved (%s): other processes "
                        "see the change within PERMISSIONS_MAX_AGE_SECONDS of losing Redis", exc)


def require_permission(permission: str) -> Guard:
    """A guard that lets the request through when the caller's role has ``permission`` now."""
    assert permission in CATALOGUE, permission

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal):
            raise Unauthorized("Authentication required", code="MISSING_TOKEN")
        permissions: Permissions = connection.app.state.permissions
        if not await permissions.allowed(user.role, permission):
            raise Forbidden(f"Your role lacks the permission {permission}", code="ROLE_REQUIRED",
                            data={"permission": permission})

    guard.__name__ = f"require_permission({permission})"
    guard.permission = permission  # type: ignore[attr-defined]
    return guard
