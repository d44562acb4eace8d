"""Operator (user) and team management shared by the admin HTTP API and the CLI.

Every change is one transaction with its audit row (``auth.audit``): the row names the actor (None from the
CLI), the client address, and the operator or team before and after; a refused or failed change leaves
neither. Locking an operator, changing their password or role ends their sessions in the same transaction, so
no window exists where the old token works; the session hooks run after the commit (presence: offline, an open
call to rework, telephony session closed, sockets closed).

Lock-out: an admin cannot lock themselves or change their own role, and the last unlocked admin can be neither
locked nor demoted (the other admins' rows are locked while this is checked, so two admins demoting each other
at once cannot both succeed)."""

from __future__ import annotations

from typing import Any

import asyncpg

from backend.auth import queries as session_queries
from backend.auth.audit import SYSTEM, Actor
from backend.auth.hooks import NoHooks, SessionHooks
from backend.core.db import Executor
from backend.core.errors import Conflict, NotFound
from backend.operators import queries

_NO_HOOKS = NoHooks()


def snapshot(row: asyncpg.Record) -> dict[str, Any]:
    """What the audit keeps of an operator (never the password hash)."""
    return {"id": row["id"], "login": row["login"], "role": row["role"], "locked": row["locked"],
            "firstName": row["first_name"], "lastName": row["last_name"], "teamId": row["team_id"]}


def team_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"]}


def _not_found() -> NotFound:
    return NotFound("No such operator", code="OPERATOR_NOT_FOUND", field="operatorId")


def _no_team(field: str = "teamId") -> NotFound:
    return NotFound("No such team", code="TEAM_NOT_FOUND", field=field)


async def get(db: Executor, operator_id: int) -> asyncpg.Record:
    row = await queries.get_by_id(db, operator_id)
    if row is None:
        raise _not_found()
    return row


async def _check_team(conn: Executor, team_id: int | None) -> None:
    if team_id is not None and await queries.get_team(conn, team_id) is None:
        raise _no_team()


async def create(pool: asyncpg.Pool, *, login: str, password_hash: str, role: str, first_name: str,
                 last_name: str, team_id: int | None = None, actor: Actor = SYSTEM) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        await _check_team(conn, team_id)
        row = await queries.insert(conn, login=login, password_hash=password_hash, role=role,
                                   first_name=first_name, last_name=last_name, team_id=team_id)
        if row is None:
            raise Conflict(f"Login {login!r} is already taken", code="LOGIN_TAKEN", field="login")
        await actor.record(conn, "operator.create", "operator", row["id"], None, snapshot(row))
    return row


async def _keep_an_admin(conn: Executor, before: asyncpg.Record, fields: dict[str, Any]) -> None:
    """Refuse a change that would leave no unlocked admin."""
    losing = before["role"] == "admin" and not before["locked"] and (
        fields.get("role", "admin") != "admin" or fields.get("locked") is True)
    if losing and await queries.other_active_admins(conn, before["id"]) == 0:
        raise Conflict("This is the last active admin: appoint another admin first", code="LAST_ADMIN",
                       field="operatorId")


async def _change(pool: asyncpg.Pool, operator_id: int, fields: dict[str, Any], *, action: str,
                  end_reason: str | None, actor: Actor, hooks: SessionHooks,
                  extra: dict[str, Any] | None = None) -> tuple[asyncpg.Record, int]:
    """One audited change of an operator's row; ends their sessions (``end_reason``) in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        if {"locked", "role"} & set(fields):
            # Every unlocked admin's row first, in id order, then the target: two admins locking or demoting each
            # other at once queue up instead of deadlocking (the target first, the others next, was a cycle).
            await queries.other_active_admins(conn, 0)
        before = await queries.get_by_id(conn, operator_id, for_update=True)
        if before is None:
            raise _not_found()
        await _keep_an_admin(conn, before, fields)
        if "team_id" in fields:
            await _check_team(conn, fields["team_id"])
        row = await queries.update_fields(conn, operator_id, fields)
        assert row is not None  # locked above
        ended = await session_queries.revoke_operator_sessions(conn, operator_id, end_reason) if end_reason else []
        after = {**snapshot(row), **(extra or {}), **({"endedSessions": len(ended)} if end_reason else {})}
        await actor.record(conn, action, "operator", operator_id, snapshot(before), after)
    if ended and end_reason:
        await hooks.sessions_ended(operator_id, ended, end_reason)
    return row, len(ended)


async def update(pool: asyncpg.Pool, operator_id: int, fields: dict[str, Any], *, actor: Actor = SYSTEM,
                 hooks: SessionHooks = _NO_HOOKS) -> asyncpg.Record:
    """Names, role, team. A new role ends the operator's sessions (their pages are chosen by role at login)."""
    async with pool.acquire() as conn:
        current = await get(conn, operator_id)
    new_role = "role" in fields and fields["role"] != current["role"]
    if new_role and actor.operator_id == operator_id:
        raise Conflict("You cannot change your own role", code="CANNOT_CHANGE_OWN_ROLE", field="role")
    row, _ = await _change(pool, operator_id, fields, action="operator.update",
                           end_reason="ROLE_CHANGED" if new_role else None, actor=actor, hooks=hooks)
    return row


async def set_locked(pool: asyncpg.Pool, operator_id: int, locked: bool, hooks: SessionHooks = _NO_HOOKS,
                     *, actor: Actor = SYSTEM) -> tuple[asyncpg.Record, int]:
    if locked and actor.operator_id == operator_id:
        raise Conflict("You cannot lock your own account", code="CANNOT_LOCK_SELF", field="operatorId")
    return await _change(pool, operator_id, {"locked": locked}, action="operator.lock" if locked else "operator.unlock",
                         end_reason="LOCKED" if locked else None, actor=actor, hooks=hooks)


async def set_password_hash(pool: asyncpg.Pool, operator_id: int, password_hash: str,
                            hooks: SessionHooks = _NO_HOOKS, *, actor: Actor = SYSTEM) -> tuple[asyncpg.Record, int]:
    return await _change(pool, operator_id, {"password_hash": password_hash}, action="operator.password",
                         end_reason="PASSWORD_CHANGED", actor=actor, hooks=hooks, extra={"passwordChanged": True})


async def end_sessions(pool: asyncpg.Pool, operator_id: int, hooks: SessionHooks = _NO_HOOKS, *,
                       actor: Actor = SYSTEM, reason: str = "ENDED_BY_ADMIN",
                       before: dict[str, Any] | None = None) -> tuple[int, int]:
    """Ends every live session; (sessions ended, audit row id). ``before`` is what the audit says the operator
    was (default: their live session count)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.get_by_id(conn, operator_id, for_update=True)
        if row is None:
            raise _not_found()
        ended = await session_queries.revoke_operator_sessions(conn, operator_id, reason)
        audit_id = await actor.record(conn, "operator.end_sessions", "operator", operator_id,
                                      before if before is not None else {"liveSessions": row["live_sessions"]},
                                      {**(before or {}), "liveSessions": 0, "endedSessions": len(ended)})
    if ended:
        await hooks.sessions_ended(operator_id, ended, reason)
    return len(ended), audit_id


# -- teams ---------------------------------------------------------------------------------------------------

def _name_taken(name: str) -> Conflict:
    return Conflict(f"Team name {name!r} is taken", code="TEAM_NAME_TAKEN", field="name")


async def create_team(pool: asyncpg.Pool, name: str, *, actor: Actor = SYSTEM) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.insert_team(conn, name)
        if row is None:
            raise _name_taken(name)
        await actor.record(conn, "team.create", "team", row["id"], None, team_snapshot(row))
    return row


async def rename_team(pool: asyncpg.Pool, team_id: int, name: str, *, actor: Actor = SYSTEM) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.get_team(conn, team_id, for_update=True)
        if before is None:
            raise _no_team("teamId")
        try:
            async with conn.transaction():
                row = await queries.rename_team(conn, team_id, name)
        except asyncpg.UniqueViolationError:
            raise _name_taken(name) from None
        assert row is not None
        await actor.record(conn, "team.rename", "team", team_id, team_snapshot(before), team_snapshot(row))
    return row


async def delete_team(pool: asyncpg.Pool, team_id: int, *, actor: Actor = SYSTEM) -> None:
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.get_team(conn, team_id, for_update=True)
        if before is None:
            raise _no_team("teamId")
        await queries.delete_team(conn, team_id)
        await actor.record(conn, "team.delete", "team", team_id, {**team_snapshot(before),
                                                                  "members": before["members"]}, None)
