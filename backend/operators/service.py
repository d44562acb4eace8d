"""Operator management shared by the admin HTTP API and the CLI. Locking an operator or changing a
password ends their sessions in the same transaction, so no window exists where the old token works."""

from __future__ import annotations

from typing import Any

import asyncpg

from backend.auth import queries as session_queries
from backend.auth.hooks import NoHooks, SessionHooks
from backend.core.db import Executor
from backend.core.errors import Conflict, NotFound
from backend.operators import queries


async def create(db: Executor, *, login: str, password_hash: str, role: str,
                 first_name: str, last_name: str) -> asyncpg.Record:
    row = await queries.insert(db, login=login, password_hash=password_hash, role=role,
                               first_name=first_name, last_name=last_name)
    if row is None:
        raise Conflict(f"Login {login!r} is already taken", code="LOGIN_TAKEN", field="login")
    return row


async def get(db: Executor, operator_id: int) -> asyncpg.Record:
    row = await queries.get_by_id(db, operator_id)
    if row is None:
        raise NotFound("No such operator", code="OPERATOR_NOT_FOUND", field="operatorId")
    return row


async def _update_and_end_sessions(pool: asyncpg.Pool, operator_id: int, fields: dict[str, Any],
                                   reason: str | None, hooks: SessionHooks) -> tuple[asyncpg.Record, int]:
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.update_fields(conn, operator_id, fields)
        if row is None:
            raise NotFound("No such operator", code="OPERATOR_NOT_FOUND", field="operatorId")
        ended = await session_queries.revoke_operator_sessions(conn, operator_id, reason) if reason else []
    if ended and reason:
        await hooks.sessions_ended(operator_id, ended, reason)
    return row, len(ended)


async def set_locked(pool: asyncpg.Pool, operator_id: int, locked: bool,
                     hooks: SessionHooks = NoHooks()) -> tuple[asyncpg.Record, int]:  # noqa: B008 - stateless
    return await _update_and_end_sessions(pool, operator_id, {"locked": locked}, "LOCKED" if locked else None, hooks)


async def set_password_hash(pool: asyncpg.Pool, operator_id: int, password_hash: str,
                            hooks: SessionHooks = NoHooks()) -> tuple[asyncpg.Record, int]:  # noqa: B008
    return await _update_and_end_sessions(pool, operator_id, {"password_hash": password_hash}, "PASSWORD_CHANGED",
                                          hooks)


async def end_sessions(pool: asyncpg.Pool, operator_id: int, hooks: SessionHooks = NoHooks()) -> int:  # noqa: B008
    async with pool.acquire() as conn, conn.transaction():
        await get(conn, operator_id)
        ended = await session_queries.revoke_operator_sessions(conn, operator_id, "ENDED_BY_ADMIN")
    if ended:
        await hooks.sessions_ended(operator_id, ended, "ENDED_BY_ADMIN")
    return len(ended)
