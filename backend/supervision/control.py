"""What a supervisor may do to an operator, and its audit.

Pausing and unpausing go through the operator's own presence paths (the same transitions, events and
telephony READY/BUSY as when the operator presses the buttons): supervision owns the small interface below
and the process wiring passes in ``workstation.presence.Presence``, which satisfies it (features do not import
each other). Ending sessions is the admins' path (``operators.service.end_sessions`` with the session hooks),
so an open call goes to rework and the telephony session closes exactly as at a lock.

Each action is recorded in ``supervisor_audit`` (append-only): who, what, to whom, from which address, the
operator's state before and after.
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from backend.auth.hooks import SessionHooks
from backend.core.errors import Conflict, NotFound
from backend.operators import service as operators
from backend.supervision import queries


class PresenceControl(Protocol):
    async def state(self, operator_id: int) -> dict[str, Any]: ...

    async def set_ready(self, operator_id: int) -> dict[str, Any]: ...

    async def set_pause(self, operator_id: int, reason: str) -> dict[str, Any]: ...


class Supervision:
    def __init__(self, pool: asyncpg.Pool, presence: PresenceControl, hooks: SessionHooks) -> None:
        self._pool = pool
        self._presence = presence
        self._hooks = hooks

    async def _target(self, operator_id: int) -> dict[str, Any]:
        if not await queries.is_operator(self._pool, operator_id):
            raise NotFound("No such operator", code="OPERATOR_NOT_FOUND", field="operatorId")
        return await self._presence.state(operator_id)

    async def _online(self, operator_id: int) -> dict[str, Any]:
        before = await self._target(operator_id)
        if before["state"] == "OFFLINE":  # a pause or READY needs a logged-in operator to mean anything
            raise Conflict("The operator is offline", code="OPERATOR_OFFLINE", field="operatorId")
        return before

    async def _audit(self, actor: int, action: str, target: int, addr: str, before: dict[str, Any],
                     after: dict[str, Any]) -> dict[str, Any]:
        audit_id = await queries.audit(self._pool, actor_id=actor, action=action, target_id=target,
                                       client_addr=addr, before=before, after=after)
        return {"auditId": audit_id, "operatorId": target, "before": before, "after": after}

    async def pause(self, actor: int, target: int, reason: str, addr: str) -> dict[str, Any]:
        before = await self._online(target)
        after = await self._presence.set_pause(target, reason)
        return await self._audit(actor, "PAUSE", target, addr, before, after)

    async def unpause(self, actor: int, target: int, addr: str) -> dict[str, Any]:
        before = await self._online(target)
        after = await self._presence.set_ready(target)
        return await self._audit(actor, "UNPAUSE", target, addr, before, after)

    async def end_sessions(self, actor: int, target: int, addr: str) -> dict[str, Any]:
        before = await self._target(target)
        ended = await operators.end_sessions(self._pool, target, self._hooks)
        after = {**await self._presence.state(target), "endedSessions": ended}
        return await self._audit(actor, "END_SESSIONS", target, addr, before, after)
