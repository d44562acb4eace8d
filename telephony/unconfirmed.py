"""Call events no Redis replica confirmed, held until a worker has applied them.

With Sentinel, the poller saves an operator's provider cursor past new events only once a replica has them
(``WAIT``), so a failover that loses the primary's last writes re-reads them from the provider. When no
replica confirms (one is down or behind; then for 10 s nobody waits: ``core.db``), the events are on the
primary alone; before this, the cursor moved anyway, and a failover before a worker had read them lost
them for good (a CI fault run, seed 18: a call with no communication).

Such events are held here instead. The cursor saved in PostgreSQL stays before the oldest one held for the
session (``floor``), so a process that takes the operator over, or this one after a restart, reads them
from the provider again. Every pass asks PostgreSQL, in one query on ``call_events``' primary key, which of
them a worker applied; those are let go and the saved cursor catches up. One not applied RESEND_AFTER
seconds after it was appended is appended again (a duplicate is a no-op downstream: idempotent by eventId),
with a doubling pause, until it is applied or a replica confirms it. One the worker rejects never reaches
``call_events`` (it is dead-lettered there): it is let go after GIVE_UP_AFTER resends, logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from backend.core.db import replicas_confirmed, wait_for_replicas
from telephony import queries
from telephony.context import Context

log = logging.getLogger("telephony")
RESEND_AFTER = 2.0  # seconds after an append with no worker having applied it; doubles per resend
GIVE_UP_AFTER = 8  # resends (~8.5 min in all): an event the worker rejects is never applied
MAX_HELD = 200_000  # events; past it the oldest are let go (logged): memory stays bounded whatever the outage


@dataclass
class Held:
    operator_id: int
    session_id: str
    provider_id: int
    event_id: str
    encoded: bytes
    due: float  # monotonic time of the next resend unless applied first
    resends: int = 0


@dataclass
class Unconfirmed:
    ctx: Context
    stream: str
    held: dict[str, Held] = field(default_factory=dict)  # by eventId, in the order held
    sessions: dict[str, dict[str, Held]] = field(default_factory=dict)  # the same, by provider session

    def hold(self, operator_id: int, session_id: str, events: list[tuple[int, str, bytes]]) -> None:
        """``events``: (provider id, eventId, the appended bytes) just appended without a replica's word."""
        due = time.monotonic() + RESEND_AFTER
        of_session = self.sessions.setdefault(session_id, {})
        for provider_id, event_id, encoded in events:
            if event_id not in self.held:
                self.held[event_id] = of_session[event_id] = Held(operator_id, session_id, provider_id, event_id,
                                                                  encoded, due)
        while len(self.held) > MAX_HELD:
            dropped = self._let_go(next(iter(self.held)))
            log.error("more than %d call events unconfirmed: event %s let go unconfirmed", MAX_HELD,
                      dropped.event_id)

    def _let_go(self, event_id: str) -> Held:
        h = self.held.pop(event_id)
        of_session = self.sessions[h.session_id]
        del of_session[event_id]
        if not of_session:
            del self.sessions[h.session_id]
        return h

    def floor(self, session_id: str, cursor: int) -> int:
        """The cursor that may be saved for the session: ``cursor``, or just before its oldest held event."""
        of_session = self.sessions.get(session_id)
        if not of_session:
            return cursor
        return min(cursor, min(h.provider_id for h in of_session.values()) - 1)

    async def settle(self) -> None:
        """One pass: let go of what a worker applied, append again what is overdue, and save the cursors
        that can move."""
        if not self.held:
            return
        ctx = self.ctx
        applied = await queries.applied_events(ctx.pool, list(self.held))
        let_go = {self._let_go(event_id).session_id for event_id in applied if event_id in self.held}
        now = time.monotonic()
        due = [h for h in self.held.values() if h.due <= now]
        if due:
            let_go |= await self._resend(due, now)
        await self._save_cursors(let_go)

    async def _resend(self, due: list[Held], now: float) -> set[str]:
        """Append ``due`` again; the sessions of those let go (a replica confirmed them, or given up)."""
        ctx = self.ctx
        # Not through the lease-checked script: a duplicate is a no-op, and the events must get back even if
        # the operator logged out (no lease) or another process took it over meanwhile.
        async with ctx.redis.pipeline(transaction=False) as pipe:
            for h in due:
                pipe.xadd(self.stream, {"event": h.encoded, "by": ctx.instance}, maxlen=1_000_000, approximate=True)
            waited = wait_for_replicas(pipe, ctx.settings)
            replies = await pipe.execute()
        confirmed = waited and replicas_confirmed(replies[-1], ctx.settings)
        ctx.metrics.events_resent.inc(len(due))
        log.warning("%d unconfirmed call event(s) not yet applied by a worker: appended again", len(due))
        let_go = set()
        for h in due:
            h.resends += 1
            if confirmed or h.resends >= GIVE_UP_AFTER:
                if not confirmed:
                    log.error("call event %s of operator %s still not applied after %d resends: let go (a worker "
                              "rejected it, see dead_letters)", h.event_id, h.operator_id, h.resends)
                if h.event_id in self.held:
                    self._let_go(h.event_id)
                let_go.add(h.session_id)
            else:
                h.due = now + RESEND_AFTER * 2.0 ** h.resends
        return let_go

    async def _save_cursors(self, sessions: set[str]) -> None:
        """The saved cursor of each session that had events let go catches up (as far as ``floor`` allows,
        computed at the moment of writing: an event held meanwhile is never passed)."""
        ctx = self.ctx
        for active in list(ctx.active.values()):
            if active.session_id in sessions and ctx.token(active.operator_id) == active.token:
                await queries.save_cursor(ctx.pool, active.operator_id, active.token, active.session_id,
                                          self.floor(active.session_id, active.cursor), [])
