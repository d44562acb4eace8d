"""Presence: whether an operator can take the next call, and what sessions starting and ending mean.

States, all in ``operator_states`` (``state``, ``reason``, ``state_since``; ``pause_requested``):

* ``OFFLINE`` — no live session.
* ``READY`` — logged in, chose to take calls (login makes an OFFLINE operator READY).
* ``PAUSED`` with a reason (BREAK, TRAINING, TECHNICAL) — chosen by the operator; asked for during a
  call it begins when the call and its result window are over.
* ``AWAY`` — READY or PAUSED, but no workstation socket on any web process for ``PRESENCE_GRACE_SECONDS``
  (the browser was closed or lost its network). A socket coming back does not restore READY: the operator
  chooses it (setReady).
* ``ON_CALL`` / ``WRAP_UP`` — set by call events; afterwards the operator is PAUSED if a pause was asked
  for, else READY if a socket is alive, else AWAY.

Telephony reports READY to the provider only for READY, so nobody else is rung.

Implements auth's ``SessionHooks``: an operator who logs in comes online and gets a telephony session;
when their last session ends (logout, lock, admin, expiry) a communication still open (on the call or
inside its result window) goes to their rework list, they go OFFLINE, their telephony session closes
and every socket of the ended sessions closes at once. The worker runs ``away_pass`` and
``offline_pass`` for what no request announces (sockets gone, sessions lapsed).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from backend.calls import commands
from backend.core.settings import Settings
from backend.events import queries as events
from backend.events.bus import Frame, encode_frame, publish, publish_session_ended
from backend.workstation import queries
from backend.workstation.schemas import operator_state_data
from backend.workstation.service import Workstation

log = logging.getLogger("backend.presence")

#: Runs inside a presence change's transaction: (connection, state before, state after).
Within = Callable[[Any, dict[str, Any], dict[str, Any]], Awaitable[None]]

OFFLINE_ATTEMPTS = 3


class Presence:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings,
                 workstation: Workstation | None = None) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._workstation = workstation or Workstation(pool, redis, settings)
        self._polled: dict[int, float] = {}  # operator -> when this process last recorded a poll (monotonic)

    async def _emit(self, conn: Any, frames: list[Frame], operator_id: int, row: Any) -> None:
        data = operator_state_data(row)
        seq = await events.append(conn, operator_id, "OPERATOR_STATE", data)
        frames.append(Frame(operator_id, seq, encode_frame("OPERATOR_STATE", seq, data)))

    # -- SessionHooks ------------------------------------------------------------------------------------

    async def session_opened(self, operator_id: int, role: str) -> None:
        if role != "operator":
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await queries.lock_presence(conn, operator_id)
            await queries.mark_online(conn, operator_id)
            # The page needs a moment to open its socket: count from the login.
            await queries.grant_grace(conn, operator_id, self._settings.presence_grace_seconds)
        await commands.send(self._redis, self._settings, [{"type": "OPEN_SESSION", "operatorId": operator_id}])

    async def sessions_ended(self, operator_id: int, session_ids: list[uuid.UUID], reason: str) -> None:
        if await self.go_offline(operator_id):
            await commands.send(self._redis, self._settings, [{"type": "CLOSE_SESSION", "operatorId": operator_id}])
        # Sockets of these sessions close now; without Redis the hub's sweep closes them within 0.5 s.
        await publish_session_ended(self._redis, self._settings, [str(s) for s in session_ids])

    async def go_offline(self, operator_id: int) -> bool:
        """If the operator has no live session left: close their open communication into rework and make
        them OFFLINE. True when they have no live session."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            await queries.lock_presence(conn, operator_id)
            if await queries.has_live_session(conn, operator_id):
                return False
            for _ in range(OFFLINE_ATTEMPTS):
                _, current = await queries.current_communication(conn, operator_id)
                if current is not None:
                    await self._workstation.close_to_rework(conn, frames, operator_id, current)
                if await queries.mark_offline(conn, operator_id, current):
                    break
                # A call began meanwhile and made another communication current: close that one too.
        await publish(self._redis, self._settings, frames)
        return True

    async def polled(self, operator_id: int) -> None:
        """A seed-style client polling hasChanges has no socket: its polls count as a live workstation.
        Recorded at most every third of the grace period per operator and process."""
        now = time.monotonic()
        every = self._settings.presence_grace_seconds / 3
        if now - self._polled.get(operator_id, -every) < every:
            return
        if len(self._polled) > 10_000:
            self._polled = {k: v for k, v in self._polled.items() if now - v < every}
        await queries.grant_grace(self._pool, operator_id, self._settings.presence_grace_seconds)
        self._polled[operator_id] = now

    # -- the operator's choice ---------------------------------------------------------------------------

    async def state(self, operator_id: int) -> dict[str, Any]:
        return operator_state_data(await queries.operator_state(self._pool, operator_id))

    async def set_ready(self, operator_id: int, within: Within | None = None) -> dict[str, Any]:
        """READY (during a call: no pause afterwards). Pressing it counts as being present for one grace
        period, as a login does, so the socket the page opens has time to be seen."""
        return await self._choose(operator_id, None, within)

    async def set_pause(self, operator_id: int, reason: str, within: Within | None = None) -> dict[str, Any]:
        return await self._choose(operator_id, reason, within)

    async def _choose(self, operator_id: int, pause: str | None, within: Within | None = None) -> dict[str, Any]:
        """``within(conn, before, after)`` runs inside the change's transaction (a supervisor's audit row, and
        its refusal of an offline operator: raising rolls the change back)."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            before: dict[str, Any] | None = None
            if within is not None:
                await queries.lock_presence(conn, operator_id)
                before = operator_state_data(await queries.operator_state(conn, operator_id))
            if pause is None:
                await queries.grant_grace(conn, operator_id, self._settings.presence_grace_seconds)
                row = await queries.set_ready(conn, operator_id)
            else:
                row = await queries.set_pause(conn, operator_id, pause)
            if row is not None:
                await self._emit(conn, frames, operator_id, row)
            else:
                row = await queries.operator_state(conn, operator_id)
            if within is not None and before is not None:
                await within(conn, before, operator_state_data(row))
        await publish(self._redis, self._settings, frames)
        return operator_state_data(row)

    # -- the worker's passes -----------------------------------------------------------------------------

    async def away_pass(self) -> int:
        """READY/PAUSED operators without a socket for the grace period become AWAY."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await queries.mark_away(conn)
            for row in rows:
                await self._emit(conn, frames, row["operator_id"], row)
        if rows:
            log.info("%d operator(s) AWAY: no workstation socket for %ss", len(rows),
                     self._settings.presence_grace_seconds)
        await publish(self._redis, self._settings, frames)
        return len(rows)

    async def offline_pass(self) -> int:
        """Operators whose sessions lapsed (expiry, or a lock from the CLI) go OFFLINE, as at logout."""
        gone = 0
        for operator_id in await queries.operators_without_sessions(self._pool):
            if await self.go_offline(operator_id):
                gone += 1
                await commands.send(self._redis, self._settings,
                                    [{"type": "CLOSE_SESSION", "operatorId": operator_id}])
        return gone
