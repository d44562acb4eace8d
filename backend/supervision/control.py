"""What a supervisor may do to an operator, and its audit.

Pausing and unpausing go through the operator's own presence paths (the same transitions, events and
telephony READY/BUSY as when the operator presses the buttons): supervision owns the small interface below
and the process wiring passes in ``workstation.presence.Presence``, which satisfies it (features do not import
each other). Ending sessions is the admins' path (``operators.service.end_sessions`` with the session hooks),
so an open call goes to rework and the telephony session closes exactly as at a lock.

Each action is recorded in ``audit_log`` (``auth.audit``; the view ``supervisor_audit`` shows these) in the
same transaction as the action: who, what, to whom, from which address, the operator's state before and after.
The presence change calls back into the transaction it holds (``within``), so a refused action (an offline
operator) and its audit row roll back together. For END_SESSIONS the row says the sessions ended; the state
the operator goes to afterwards (OFFLINE, through the session hooks after the commit) is in the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg

from backend.auth.audit import Actor
from backend.auth.hooks import SessionHooks
from backend.core.errors import Conflict, NotFound
from backend.operators import service as operators
from backend.supervision import queries

Within = Callable[[Any, dict[str, Any], dict[str, Any]], Awaitable[None]]


class PresenceControl(Protocol):
    async def state(self, operator_id: int) -> dict[str, Any]: ...

    async def set_ready(self, operator_id: int, within: Within | None = None) -> dict[str, Any]: ...

    async def set_pause(self, operator_id: int, reason: str, within: Within | None = None) -> dict[str, Any]: ...


def _not_found() -> NotFound:
    return NotFound("No such operator", code="OPERATOR_NOT_FOUND", field="operatorId")


class Supervision:
    def __init__(self, pool: asyncpg.Pool, presence: PresenceControl, hooks: SessionHooks) -> None:
        self._pool = pool
        self._presence = presence
        self._hooks = hooks

    async def _target(self, operator_id: int) -> None:
        if not await queries.is_operator(self._pool, operator_id):
            raise _not_found()

    async def _choose(self, actor: Actor, action: str, target: int, reason: str | None) -> dict[str, Any]:
        await self._target(target)
        audit: dict[str, Any] = {}

        async def within(conn: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
            if before["state"] == "OFFLINE":  # a pause or READY needs a logged-in operator to mean anything
                raise Conflict("The operator is offline", code="OPERATOR_OFFLINE", field="operatorId")
            audit["id"] = await actor.record(conn, action, "operator", target, before, after)
            audit["before"] = before

        if reason is None:
            after = await self._presence.set_ready(target, within)
        else:
            after = await self._presence.set_pause(target, reason, within)
        return {"auditId": audit["id"], "operatorId": target, "before": audit["before"], "after": after}

    async def pause(self, actor: Actor, target: int, reason: str) -> dict[str, Any]:
        return await self._choose(actor, "operator.pause", target, reason)

    async def unpause(self, actor: Actor, target: int) -> dict[str, Any]:
        return await self._choose(actor, "operator.unpause", target, None)

    async def end_sessions(self, actor: Actor, target: int) -> dict[str, Any]:
        await self._target(target)
        before = await self._presence.state(target)
        ended, audit_id = await operators.end_sessions(self._pool, target, self._hooks, actor=actor,
                                                       reason="ENDED_BY_ADMIN", before=before)
        after = {**await self._presence.state(target), "endedSessions": ended}
        return {"auditId": audit_id, "operatorId": target, "before": before, "after": after}
