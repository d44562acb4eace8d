"""The telephony process's parts, assembled: provider sessions (``sessions``), event polling
(``polling``), the backend's commands (``commands``) and calls that outstay their welcome (``watch``),
sharing one ``Context``; the operators it serves are those whose leases it holds (``leases``)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from backend.core.retry import every, loop_health
from backend.core.settings import Settings
from telephony.commands import Commands
from telephony.context import Context
from telephony.leases import Leases
from telephony.polling import Poller
from telephony.provider import Provider
from telephony.sessions import Sessions
from telephony.watch import CallWatch, TaskWatch, watch_leader


class Adapter:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, provider: Provider,
                 instance: str | None = None) -> None:
        self.ctx = Context(pool, redis, settings, provider)
        if instance:
            self.ctx.instance = instance
        self.leases = Leases(self.ctx)
        self.sessions = Sessions(self.ctx, self.leases)
        self.poller = Poller(self.ctx, self.sessions, self.leases)
        self.sessions.drain = self.poller.drain  # a session is read to the end before it is closed
        self.commands = Commands(self.ctx, self.sessions)
        self.watch_leader = watch_leader(self.ctx)
        self.watch = CallWatch(self.ctx, self.watch_leader)
        self.task_watch = TaskWatch(self.ctx, self.watch_leader)

    async def run_forever(self) -> None:
        await asyncio.gather(every("lease renewal", self.leases.ttl / 3, self.leases.renew),
                             every("leases", self.leases.ttl / 3, self._lease_pass), self.poller.poll_forever(),
                             self.commands.run_forever(), self.sessions.reconcile_forever(),
                             self.watch.run_forever(), self.task_watch.run_forever())

    async def _lease_pass(self) -> None:
        """Keep our leases; operators just taken over that are at the workstation without a provider session
        get one now rather than at the next reconcile."""
        if await self.leases.balance():
            self.sessions.reconcile_soon()

    async def leave(self) -> None:
        """A clean stop: the leases and the watch lock go back at once, for the others to take up."""
        await self.leases.leave()
        await self.watch_leader.release()

    def health(self) -> dict[str, Any]:
        """503 while the provider is down or a loop keeps failing (it is restarted, never dead)."""
        m = self.ctx.metrics
        loops = loop_health()
        ok = m.provider_up and all(loop["state"] != "failing" for loop in loops.values())
        return {"status": "OK" if ok else "DEGRADED", "provider": "up" if m.provider_up else "down",
                "loops": loops,
                "instance": self.ctx.instance, "leases": len(self.ctx.leases),
                "liveProcesses": self.leases.live_processes,
                "activeSessions": len(self.ctx.active), "lastError": m.last_error or None,
                "consecutiveFailures": m.consecutive_failures, "eventsAppended": m.events_total,
                "lastEventLagMs": m.last_event_lag_ms}
