"""Polls each active operator's provider events and appends them to the call-event stream.

Each new provider event goes on the stream *before* the cursor is saved: a crash in between re-reads the
event, and its deterministic eventId makes it a no-op downstream. Nothing is skipped, nothing applies twice.
An event we cannot use (unparseable, unknown type, not a call of ours) goes to the dead-letter record in the
same transaction as the cursor that moves past it, and is counted. Before each cycle the operators'
availability (READY/BUSY from the workstation state) is sent to the provider, so that nobody is rung inside
a result window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec

from backend.calls import queries as call_queries
from backend.calls.streams import events_stream
from backend.core.retry import RETRYABLE, beat, run_forever
from telephony import queries
from telephony.context import Active, Context
from telephony.parsing import in_order, to_call_event
from telephony.provider import ProviderError
from telephony.sessions import Sessions, availability

log = logging.getLogger("telephony")


class Poller:
    def __init__(self, ctx: Context, sessions: Sessions) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._stream = events_stream(ctx.settings)

    async def poll_forever(self) -> None:
        # A cycle where the provider did not answer raises, so the next waits out the shared backoff.
        await run_forever("polling", self._loop, expected=(*RETRYABLE, ProviderError))

    async def _loop(self) -> None:
        ctx = self._ctx
        semaphore = asyncio.Semaphore(ctx.settings.poll_concurrency)
        while True:
            started = time.monotonic()
            await self._sync_availability()
            results = await asyncio.gather(
                *(self._poll_one(active, semaphore) for active in list(ctx.active.values())),
                return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, ProviderError):
                    raise result
            down = [r for r in results if isinstance(r, ProviderError) and r.verdict == "retry"]
            if down and len(down) == len(results):
                raise down[0]
            ctx.metrics.poll_cycles.inc()
            beat("polling")
            await asyncio.sleep(max(0.0, ctx.settings.poll_interval_seconds - (time.monotonic() - started)))

    async def _poll_one(self, active: Active, semaphore: asyncio.Semaphore) -> None:
        ctx = self._ctx
        async with semaphore:
            try:
                page = await ctx.provider.events(active.session_id, active.cursor)
            except ProviderError as exc:
                ctx.metrics.failed(exc)
                if exc.verdict == "session_expired":
                    await self._sessions.reopen(active.operator_id)
                raise
            ctx.metrics.succeeded()
            polled_at = datetime.now(UTC)
            fresh = [e for e in in_order(page.events) if e.id > active.cursor]
            rejected = active.unseen_rejects(page.rejected)
            if not fresh and not rejected:
                return
            dead: list[tuple[str, bytes]] = [(f"unparseable provider event: {r.reason}", r.raw) for r in rejected]
            async with ctx.redis.pipeline(transaction=False) as pipe:
                appended_at = datetime.now(UTC).isoformat()
                for event in fresh:
                    call_event = to_call_event(event, active.operator_id, polled_at)
                    if call_event is None:
                        dead.append(("not a call of a campaign task", msgspec.json.encode(event)))
                        continue
                    call_event["appendedAt"] = appended_at
                    pipe.xadd(self._stream, {"event": msgspec.json.encode(call_event)},
                              maxlen=1_000_000, approximate=True)
                await pipe.execute()
            # Past every event seen, good or bad (an id-less bad one: the page's own `next`).
            ids = [e.id for e in fresh] + [r.id for r in rejected if r.id is not None]
            cursor = max([*ids, page.next if any(r.id is None for r in rejected) else active.cursor])
            ended = [e.taskId for e in fresh if e.type == "call.ended"]
            async with ctx.pool.acquire() as conn, conn.transaction():
                await queries.save_cursor(conn, active.operator_id, active.session_id, cursor, ended)
                for reason, raw in dead:
                    await call_queries.dead_letter(conn, "provider-event", reason, raw)
            active.cursor = cursor
            if dead:
                ctx.metrics.dead_letters.inc(len(dead))
                log.error("%d provider event(s) of operator %s dead-lettered: %s", len(dead), active.operator_id,
                          "; ".join(reason for reason, _ in dead)[:500])
            if fresh:
                ctx.metrics.appended(len(fresh),
                                     round((datetime.now(UTC) - fresh[-1].at).total_seconds() * 1000, 1))

    async def _sync_availability(self) -> None:
        """Report READY/BUSY from the workstation's operator state: READY only for READY. PAUSED (the
        operator's choice), AWAY (no workstation socket), ON_CALL, WRAP_UP (the result window) and OFFLINE
        (logged out; the session is about to close) are BUSY, so the provider routes them no call."""
        ctx = self._ctx
        if not ctx.active:
            return
        for row in await queries.operator_states(ctx.pool, list(ctx.active)):
            active = ctx.active.get(row["operator_id"])
            wanted = availability(row["state"])
            if active is None or active.reported == wanted:
                continue
            try:
                await ctx.provider.set_status(active.session_id, wanted)
                active.reported = wanted
            except ProviderError as exc:
                ctx.metrics.failed(exc)
