"""The telephony process's parts, assembled: provider sessions (``sessions``), event polling
(``polling``), the backend's commands (``commands``) and calls that outstay their welcome (``watch``),
sharing one ``Context``."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from backend.core.retry import RETRYABLE, loop_health, retrying
from backend.core.settings import Settings
from telephony.commands import Commands
from telephony.context import Context
from telephony.polling import Poller
from telephony.provider import Provider
from telephony.sessions import Sessions
from telephony.watch import CallWatch, TaskWatch


class Adapter:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, provider: Provider) -> None:
        self.ctx = Context(pool, redis, settings, provider)
        self.sessions = Sessions(self.ctx)
        self.poller = Poller(self.ctx, self.sessions)
        self.commands = Commands(self.ctx, self.sessions)
        self.watch = CallWatch(self.ctx)
        self.task_watch = TaskWatch(self.ctx)


    async def run_forever(self) -> None:
        async for attempt in retrying(RETRYABLE):  # PostgreSQL may still be starting
            with attempt:
                await self.sessions.load()
        await asyncio.gather(self.poller.poll_forever(), self.commands.run_forever(),
                             self.sessions.reconcile_forever(), self.watch.run_forever(),
                             self.task_watch.run_forever())

    def health(self) -> dict[str, Any]:
        """503 while the provider is down or a loop keeps failing (it is restarted, never dead)."""
        m = self.ctx.metrics
        loops = loop_health()
        ok = m.provider_up and all(loop["state"] != "failing" for loop in loops.values())
        return {"status": "OK" if ok else "DEGRADED", "provider": "up" if m.provider_up else "down",
                "loops": loops,
                "activeSessions": len(self.ctx.active), "lastError": m.last_error or None,
                "consecutiveFailures": m.consecutive_failures, "eventsAppended": m.events_total,
                "lastEventLagMs": m.last_event_lag_ms}
