"""Polls each active operator's provider events and appends them to the call-event stream.

Each operator is polled by a task of its own, every POLL_INTERVAL_SECONDS at its own phase of the interval
(``phase``: the operators' ids spread by the golden ratio), so the provider sees a flat load rather than a
burst per cycle, and a slow or failing operator never delays another. An operator whose poll fails backs off
on its own: as long as the provider's ``Retry-After`` says (429, or 5xx with it), else by the shared policy
(``core.retry.backoff``), staying on its phase. When no poll at all succeeds for an interval, the "polling"
loop reports failing on /health.

Each new provider event goes on the stream *before* the cursor is saved: a crash in between re-reads the
event, and its deterministic eventId makes it a no-op downstream. Nothing is skipped, nothing applies twice.
With Sentinel the cursor also waits until a Redis replica has the events (``wait_for_replicas``), so a
failover that loses the primary's last writes re-reads them from the provider instead of losing them;
events no replica confirmed are held, and the saved cursor with them, until a worker has applied them
(``telephony.unconfirmed``).
An event we cannot use (unparseable, unknown type, not a call of ours) goes to the dead-letter record in the
same transaction as the cursor that moves past it, and is counted.

Only the operators whose leases this process holds are polled (``telephony.leases``): the events go on the
stream by a Lua script that appends only while the lease names us, and the cursor write carries the lease's
fencing token; a refusal of either means another process took the operator over, and we let it go.

Availability (READY/BUSY from the workstation state, so that nobody is rung inside a result window) is
synced by a loop of its own every interval; changes are sent concurrently, never ahead of or inside a poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

import msgspec

from backend.calls import queries as call_queries
from backend.calls.streams import events_stream
from backend.core.db import replicas_confirmed, replicas_expected, wait_for_replicas
from backend.core.retry import RETRYABLE, backoff, beat, every, run_forever
from telephony import queries
from telephony.context import Active, Context, Lease, LeaseLost
from telephony.leases import APPEND, Leases
from telephony.parsing import in_order, to_call_event
from telephony.provider import ProviderError
from telephony.sessions import Sessions, availability
from telephony.unconfirmed import Unconfirmed

log = logging.getLogger("telephony")
GOLDEN = (math.sqrt(5) - 1) / 2
_NONE = Lease(-1, 0.0)
DRAIN_PAGES = 20  # a session about to close: pages read at most (a page holds up to 100 events)


def phase(operator_id: int, interval: float) -> float:
    """Where in the interval an operator is polled: ids spread by the golden ratio, so any set of
    consecutive ids covers the interval evenly, and an operator keeps its phase across restarts."""
    return (operator_id * GOLDEN) % 1.0 * interval


def next_slot(after: float, offset: float, interval: float) -> float:
    """The first time on the grid ``offset + k * interval`` later than ``after``."""
    return after + interval - ((after - offset) % interval)


class PollFailure(Exception):
    """No poll succeeded during a whole interval: the provider (or PostgreSQL/Redis) is away."""


class Poller:
    def __init__(self, ctx: Context, sessions: Sessions, leases: Leases) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._leases = leases
        self._stream = events_stream(ctx.settings)
        self._interval = ctx.settings.poll_interval_seconds
        self._operators: dict[int, asyncio.Task[None]] = {}
        self._succeeded = 0
        self._failures: list[BaseException] = []
        self._sending: set[int] = set()  # operators whose availability is on its way to the provider
        self._senders: set[asyncio.Task[None]] = set()
        self._send_slots = asyncio.Semaphore(ctx.settings.command_concurrency)
        self.unconfirmed = Unconfirmed(ctx, self._stream)

    async def poll_forever(self) -> None:
        try:
            await asyncio.gather(
                run_forever("polling", self._supervise, expected=(*RETRYABLE, ProviderError, PollFailure)),
                every("availability", self._interval, self._sync_availability),
                every("unconfirmed events", max(self._interval, 0.5), self.unconfirmed.settle))
        finally:
            for task in [*self._operators.values(), *self._senders]:
                task.cancel()

    async def _supervise(self) -> None:
        """Keep one polling task per active operator; report failing when a whole interval had no success."""
        loop = asyncio.get_running_loop()
        window_started = loop.time()
        while True:
            for operator_id in self._ctx.active.keys() - self._operators.keys():
                task = loop.create_task(self._poll_operator(operator_id), name=f"poll-{operator_id}")
                self._operators[operator_id] = task
                task.add_done_callback(self._ended)
            if loop.time() - window_started >= self._interval:
                window_started = loop.time()
                succeeded, failures = self._succeeded, self._failures
                self._succeeded, self._failures = 0, []
                unexpected = [f for f in failures if not isinstance(f, (ProviderError, *RETRYABLE))]
                if unexpected:
                    raise unexpected[-1]  # a bug: logged with its traceback; the operators' tasks go on
                if failures and not succeeded:
                    raise PollFailure(f"{len(failures)} poll(s) failed, none succeeded: {failures[-1]}")
                self._ctx.metrics.poll_cycles.inc()
                beat("polling")
            await asyncio.sleep(min(0.1, self._interval / 2))

    def _ended(self, task: asyncio.Task[None]) -> None:
        operator_id = int(task.get_name().removeprefix("poll-"))
        if self._operators.get(operator_id) is task:
            del self._operators[operator_id]

    async def _poll_operator(self, operator_id: int) -> None:
        """Poll one operator at its phase until its session ends; after a failure, wait as long as the
        provider asked (Retry-After), else as the shared backoff says, and go on at the phase."""
        ctx = self._ctx
        loop = asyncio.get_running_loop()
        interval = self._interval
        offset = phase(operator_id, interval)
        due = next_slot(loop.time(), offset, interval)
        failures = 0
        while True:
            await asyncio.sleep(due - loop.time())
            active = ctx.active.get(operator_id)
            if active is None or active.token != ctx.leases.get(operator_id, _NONE).token:
                return  # closed, or another process has the operator now (a new Active if we took it back)
            pause = 0.0
            try:
                if ctx.token(operator_id) is not None:  # not while our lease may have lapsed (we were paused)
                    await self._poll_one(active)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                await self._leases.lost(operator_id)
                return
            except ProviderError as exc:
                if exc.verdict != "session_expired":  # re-opened already: poll the new session at the phase
                    failures += 1
                    pause = exc.retry_after if exc.retry_after is not None else backoff(failures)
                    self._failures.append(exc)
            except Exception as exc:  # PostgreSQL or Redis away, or a bug: reported by the supervisor
                failures += 1
                pause = backoff(failures)
                self._failures.append(exc)
            else:
                failures = 0
                self._succeeded += 1
            earliest = loop.time() + pause
            due += interval
            if due <= earliest:  # late (a slow answer) or backing off: the next slot of our phase after it
                due = next_slot(earliest, offset, interval)

    async def drain(self, active: Active) -> None:
        """Read a session about to close to the end: every event in it appended (at most DRAIN_PAGES pages; a
        provider error or a lost lease is the caller's to handle)."""
        for _ in range(DRAIN_PAGES):
            if not await self._poll_one(active):
                return

    async def _poll_one(self, active: Active) -> bool:
        """One page of the operator's events appended and the cursor moved past it; False if nothing new."""
        ctx = self._ctx
        ctx.metrics.polls.inc()
        try:
            page = await ctx.provider.events(active.session_id, active.cursor)
        except ProviderError as exc:
            ctx.metrics.failed(exc)
            if exc.verdict == "session_expired":
                await self._sessions.reopen(active.operator_id)
            raise
        ctx.metrics.succeeded()
        if not page.events and not page.rejected:
            return False
        polled_at = datetime.now(UTC)
        fresh = [e for e in in_order(page.events) if e.id > active.cursor]
        rejected = active.unseen_rejects(page.rejected)
        if not fresh and not rejected:
            return False
        dead: list[tuple[str, bytes]] = [(f"unparseable provider event: {r.reason}", r.raw) for r in rejected]
        appended_at = datetime.now(UTC).isoformat()
        encoded: list[tuple[int, str, bytes]] = []
        for event in fresh:
            call_event = to_call_event(event, active.operator_id, polled_at)
            if call_event is None:
                dead.append(("not a call of a campaign task", msgspec.json.encode(event)))
                continue
            call_event["appendedAt"] = appended_at
            encoded.append((event.id, call_event["eventId"], msgspec.json.encode(call_event)))
        if encoded:  # appended only while the lease in Redis still names this process (leases.APPEND)
            async with ctx.redis.pipeline(transaction=False) as pipe:
                pipe.eval(APPEND, 2, self._leases.key(active.operator_id), self._stream, ctx.instance,
                          *(raw for _, _, raw in encoded))
                # A failover now must not lose them: a replica has them before the cursor moves.
                waited = wait_for_replicas(pipe, ctx.settings)
                replies = await pipe.execute()
            if int(replies[0]) < 0:
                raise LeaseLost(active.operator_id)
            confirmed = replicas_confirmed(replies[-1], ctx.settings) if waited else not replicas_expected(ctx.settings)
            if not confirmed:  # on the primary alone: held, and the saved cursor with them, until applied
                self.unconfirmed.hold(active.operator_id, active.session_id, encoded)
        # Past every event seen, good or bad (an id-less bad one: the page's own `next`).
        ids = [e.id for e in fresh] + [r.id for r in rejected if r.id is not None]
        cursor = max([*ids, page.next if any(r.id is None for r in rejected) else active.cursor])
        ended = [e.taskId for e in fresh if e.type == "call.ended"]
        async with ctx.pool.acquire() as conn, conn.transaction():
            if not await queries.save_cursor(conn, active.operator_id, active.token, active.session_id,
                                             self.unconfirmed.floor(active.session_id, cursor), ended):
                raise LeaseLost(active.operator_id)  # nothing of it written: the transaction rolls back
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
        return True

    async def _sync_availability(self) -> None:
        """Report READY/BUSY from the workstation's operator state: READY only for READY. PAUSED (the
        operator's choice), AWAY (no workstation socket), ON_CALL, WRAP_UP (the result window) and OFFLINE
        (logged out; the session is about to close) are BUSY, so the provider routes them no call. Each
        change is sent in a task of its own (at most COMMAND_CONCURRENCY at once), so a slow answer holds up
        neither polls nor the others; one that fails is sent again at the next pass."""
        ctx = self._ctx
        if not ctx.active:
            return
        for row in await queries.operator_states(ctx.pool, list(ctx.active)):
            active = ctx.active.get(row["operator_id"])
            wanted = availability(row["state"])
            if active is None or active.reported == wanted or active.operator_id in self._sending:
                continue
            self._sending.add(active.operator_id)
            task = asyncio.create_task(self._send_availability(active, wanted))
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    async def _send_availability(self, active: Active, wanted: str) -> None:
        ctx = self._ctx
        try:
            async with self._send_slots:
                if ctx.token(active.operator_id) != active.token:
                    return  # the operator is no longer ours (or our lease may have lapsed): not ours to say
                await ctx.provider.set_status(active.session_id, wanted)
            active.reported = wanted
            ctx.metrics.succeeded()
        except ProviderError as exc:
            ctx.metrics.failed(exc)
        finally:
            self._sending.discard(active.operator_id)
