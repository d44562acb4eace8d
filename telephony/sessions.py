"""Provider sessions follow workstation sessions: an operator with a live workstation session gets a
provider session (re-opened if the provider dropped it, e.g. after 15 idle minutes), one without loses
it. Reconciled every few seconds; OPEN/CLOSE commands from login/logout make it immediate. Only for the
operators whose leases this process holds: each open, close and session write carries the lease's fencing
token and is refused once another process took the operator over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from backend.core.retry import beat, run_forever
from telephony import queries
from telephony.context import Active, Context
from telephony.leases import Leases
from telephony.provider import ProviderError

log = logging.getLogger("telephony")
RECONCILE_SECONDS = 3.0


def session_key(operator_id: int) -> str:
    """The Idempotency-Key of an operator's session: one open session per operator at the provider, whichever
    process of ours opens it and however often (an open whose answer was lost, a lease that moved meanwhile)."""
    return f"tm-session-{operator_id}"


def availability(state: str) -> str:
    """What the provider is told of an operator in this workstation state: READY only for READY (not on a
    pause, away, in a call or its result window, or logged out)."""
    return "READY" if state == "READY" else "BUSY"


class Sessions:
    """Opens and closes the provider sessions of the operators whose leases we hold (``telephony.leases``);
    the others are another process's."""

    def __init__(self, ctx: Context, leases: Leases) -> None:
        self._ctx = ctx
        self._leases = leases
        self._wake = asyncio.Event()
        # Reads a session's events to the end (the poller's); set by the adapter, which owns both.
        self.drain: Callable[[Active], Awaitable[None]] | None = None

    def reconcile_soon(self) -> None:
        """Operators just taken over: reconcile now rather than at the next tick."""
        self._wake.set()

    async def open(self, operator_id: int) -> None:
        ctx = self._ctx
        token = ctx.token(operator_id)
        if token is None:
            return
        creds = await queries.credentials(ctx.pool, operator_id)
        if creds is None or ctx.token(operator_id) != token:
            return
        # A session is READY at the provider the moment it exists: unless the operator is READY with us, it is
        # opened BUSY, or a (re)started provider rings an operator who is on a call or in a window. The state
        # is read again after the open and BUSY said explicitly, for a provider that ignores the open's status
        # and for a call that started meanwhile.
        states = await queries.operator_states(ctx.pool, [operator_id])
        reported = availability(states[0]["state"] if states else "OFFLINE")
        session_id = await ctx.provider.open_session(creds["login"], creds["secret"], session_key(operator_id),
                                                     reported)
        ctx.metrics.succeeded()
        states = await queries.operator_states(ctx.pool, [operator_id])
        reported = availability(states[0]["state"] if states else "OFFLINE")
        if reported != "READY" and ctx.token(operator_id) == token:
            await ctx.provider.set_status(session_id, reported)
        if ctx.token(operator_id) != token or not await queries.save_session(ctx.pool, operator_id, token, session_id):
            # The lease moved on while we opened it: the new holder opens with the same key, so it gets this
            # very session and reads it from the start (a call already rung into it is not lost). Closing it
            # here would close the new holder's session.
            await self._leases.lost(operator_id)
            return
        ctx.active[operator_id] = Active(operator_id, session_id, 0, token, reported)
        ctx.metrics.sessions_opened.inc()
        ctx.metrics.active_sessions.set(len(ctx.active))
        log.info("provider session opened for operator %s", operator_id)

    async def close(self, operator_id: int) -> None:
        ctx = self._ctx
        token = ctx.token(operator_id)
        if token is None:
            return
        active = ctx.active.get(operator_id)
        if active is not None and active.session_id:
            # A call the provider rang into the session just before the logout must not vanish with it: no new
            # call (BUSY), then its events read to the end, then closed. Only once the provider has taken BUSY:
            # a BUSY that failed (5xx, no answer) leaves the session READY, and a call rung between the last
            # read and the close would be lost (the fault suite, seed 18) — so that failure makes the close be
            # tried again later. A session the provider no longer knows (expired, 4xx) just closes.
            try:
                await ctx.provider.set_status(active.session_id, "BUSY")
            except ProviderError as exc:
                if exc.verdict == "retry":
                    raise
            if self.drain is not None:
                await self.drain(active)
            await ctx.provider.close_session(active.session_id)
            ctx.metrics.succeeded()
        await self.forget(operator_id, token)
        ctx.metrics.sessions_closed.inc()
        log.info("provider session closed for operator %s", operator_id)

    async def forget(self, operator_id: int, token: int) -> None:
        self._ctx.active.pop(operator_id, None)
        self._ctx.metrics.active_sessions.set(len(self._ctx.active))
        if not await queries.forget_session(self._ctx.pool, operator_id, token):
            await self._leases.lost(operator_id)

    async def _held(self, operator_id: int) -> bool:
        """Ours, or taken now if nobody holds it (a login: nobody polls the operator yet)."""
        if self._ctx.token(operator_id) is None:
            await self._leases.acquire([operator_id], 1)
        return self._ctx.token(operator_id) is not None

    async def ensure_open(self, operator_id: int) -> None:
        """OPEN_SESSION: if another process holds the operator, its reconcile opens the session."""
        async with self._ctx.lock:
            if await self._held(operator_id) and operator_id not in self._ctx.active:
                await self.open(operator_id)

    async def ensure_closed(self, operator_id: int) -> None:
        """CLOSE_SESSION: if another process holds the operator, its reconcile closes the session."""
        async with self._ctx.lock:
            if await self._held(operator_id) and operator_id in self._ctx.active:
                await self.close(operator_id)

    async def reconcile(self) -> None:
        """Of the operators we hold: a live one without a provider session gets one, one no longer live
        loses it."""
        ctx = self._ctx
        async with ctx.lock:
            live = await queries.live_operators(ctx.pool)
            held = {op for op in ctx.leases if ctx.token(op) is not None}
            for operator_id in sorted((live & held) - set(ctx.active)):
                await self.open(operator_id)
            for operator_id in sorted(set(ctx.active) - live):
                try:
                    await self.close(operator_id)
                except ProviderError as exc:  # BUSY not taken: the next pass closes it; the others go on
                    ctx.metrics.failed(exc)
                    log.warning("provider session of operator %s not closed yet: %s", operator_id, exc)

    async def reopen(self, operator_id: int) -> None:
        """The provider dropped the session (idle past its limit, or restarted): open it again if the
        operator is still at the workstation, else forget it."""
        ctx = self._ctx
        async with ctx.lock:
            token = ctx.token(operator_id)
            if token is None:
                return
            if operator_id in await queries.live_operators(ctx.pool):
                log.info("provider session of operator %s expired; re-opening", operator_id)
                await self.open(operator_id)
            else:
                await self.forget(operator_id, token)

    async def reconcile_forever(self) -> None:
        async def loop() -> None:
            while True:
                self._wake.clear()
                await self.reconcile()
                beat("session reconcile")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RECONCILE_SECONDS)

        await run_forever("session reconcile", loop)
