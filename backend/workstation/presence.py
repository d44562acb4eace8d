"""Presence: what an operator's sessions starting and ending mean for the floor. Implements auth's
``SessionHooks``: an operator who logs in comes online and gets a telephony session; when their last
session ends (logout, lock, admin, expiry) they go offline, their telephony session closes and every
socket of the ended sessions closes at once."""

from __future__ import annotations

import uuid

import asyncpg
import redis.asyncio as aioredis

from backend.calls import commands
from backend.core.settings import Settings
from backend.events.bus import publish_session_ended
from backend.workstation import queries


class Presence:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings

    async def session_opened(self, operator_id: int, role: str) -> None:
        if role != "operator":
            return
        await queries.mark_online(self._pool, operator_id)
        await commands.send(self._redis, self._settings, [{"type": "OPEN_SESSION", "operatorId": operator_id}])

    async def sessions_ended(self, operator_id: int, session_ids: list[uuid.UUID], reason: str) -> None:
        if await queries.mark_offline_if_no_sessions(self._pool, operator_id):
            await commands.send(self._redis, self._settings, [{"type": "CLOSE_SESSION", "operatorId": operator_id}])
        # Sockets of these sessions close now; without Redis the hub's sweep closes them within 0.5 s.
        await publish_session_ended(self._redis, self._settings, [str(s) for s in session_ids])
