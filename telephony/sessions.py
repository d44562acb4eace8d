"""Provider sessions follow workstation sessions: an operator with a live workstation session gets a
provider session (re-opened if the provider dropped it, e.g. after 15 idle minutes), one without loses
it. Reconciled every few seconds; OPEN/CLOSE commands from login/logout make it immediate."""

from __future__ import annotations

import asyncio
import logging

from backend.core.retry import beat, run_forever
from telephony import queries
from telephony.context import Active, Context

log = logging.getLogger("telephony")
RECONCILE_SECONDS = 3.0


def availability(state: str) -> str:
    """What the provider is told of an operator in this workstation state: READY only for READY (not on a
    pause, away, in a call or its result window, or logged out)."""
    return "READY" if state == "READY" else "BUSY"


class Sessions:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def load(self) -> None:
        """A restarted process resumes each operator's polling from the saved cursor."""
        rows = await queries.active_sessions(self._ctx.pool)
        self._ctx.active = {r["operator_id"]: Active(r["operator_id"], r["provider_session_id"] or "",
                                                     int(r["event_cursor"] or 0)) for r in rows}
        self._ctx.metrics.active_sessions.set(len(self._ctx.active))
        log.info("resuming %d active operator session(s)", len(self._ctx.active))

    async def open(self, operator_id: int) -> None:
        ctx = self._ctx
        creds = await queries.credentials(ctx.pool, operator_id)
        if creds is None:
            return
        session_id = await ctx.provider.open_session(creds["login"], creds["secret"])
        ctx.metrics.succeeded()
        # A new session is READY at the provider: unless the operator is READY with us, say BUSY before
        # anything else, or a (re)started provider rings an operator who is on a call or in a window.
        states = await queries.operator_states(ctx.pool, [operator_id])
        reported = availability(states[0]["state"] if states else "OFFLINE")
        if reported != "READY":
            await ctx.provider.set_status(session_id, reported)
        await queries.save_session(ctx.pool, operator_id, session_id)
        ctx.active[operator_id] = Active(operator_id, session_id, 0, reported)
        ctx.metrics.sessions_opened.inc()
        ctx.metrics.active_sessions.set(len(ctx.active))
        log.info("provider session opened for operator %s", operator_id)

    async def close(self, operator_id: int) -> None:
        ctx = self._ctx
        active = ctx.active.get(operator_id)
        if active is not None and active.session_id:
            await ctx.provider.close_session(active.session_id)
            ctx.metrics.succeeded()
        await self.forget(operator_id)
        ctx.metrics.sessions_closed.inc()
        log.info("provider session closed for operator %s", operator_id)

    async def forget(self, operator_id: int) -> None:
        self._ctx.active.pop(operator_id, None)
        self._ctx.metrics.active_sessions.set(len(self._ctx.active))
        await queries.forget_session(self._ctx.pool, operator_id)

    async def ensure_open(self, operator_id: int) -> None:
        async with self._ctx.lock:
            if operator_id not in self._ctx.active:
                await self.open(operator_id)

    async def ensure_closed(self, operator_id: int) -> None:
        async with self._ctx.lock:
            if operator_id in self._ctx.active:
                await self.close(operator_id)

    async def reconcile(self) -> None:
        async with self._ctx.lock:
            live = await queries.live_operators(self._ctx.pool)
            for operator_id in sorted(live - set(self._ctx.active)):
                await self.open(operator_id)
            for operator_id in sorted(set(self._ctx.active) - live):
                await self.close(operator_id)

    async def reopen(self, operator_id: int) -> None:
        """The provider dropped the session (idle past its limit, or restarted): open it again if the
        operator is still at the workstation, else forget it."""
        async with self._ctx.lock:
            if operator_id in await queries.live_operators(self._ctx.pool):
                log.info("provider session of operator %s expired; re-opening", operator_id)
                await self.open(operator_id)
            else:
                await self.forget(operator_id)

    async def reconcile_forever(self) -> None:
        async def loop() -> None:
            while True:
                await self.reconcile()
                beat("session reconcile")
                await asyncio.sleep(RECONCILE_SECONDS)

        await run_forever("session reconcile", loop)
