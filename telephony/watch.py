"""What the provider may have lost, checked against what it says.

* Calls (``CallWatch``): a call still open with us after CALL_CHECK_SECONDS — current for its operator or
  not — is checked with the provider every CALL_CHECK_SECONDS: if the provider says it ended a while ago
  (its hang-up event was lost) or no longer knows it (restarted), a CALL_ENDED is put on the stream for
  it, so the result window opens and nobody is stuck on a call forever; if it is still on after
  MAX_CALL_SECONDS, it is hung up (the provider's own hang-up event follows; if that is lost too, the
  next check finds the call ended).
* Dial tasks (``TaskWatch``): a task the provider accepted is checked every TASK_CHECK_SECONDS (the
  stalest first, a bounded number per pass); one it no longer holds (it restarted) or cancelled on its
  own is queued again as a new ADD, so a client is not silently never called.

With several telephony processes, the watches run on one of them at a time, under a leader lock in Redis
(``watch_leader``), which another takes over within its TTL when the leader dies: both look at every call
and task, not at the operators of one process. Should a paused leader wake and check once more beside its
successor, nothing doubles: the CALL_ENDED it adds has a stable id (applied once downstream), and a lost
task is queued again by a conditional UPDATE only one of them wins.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from backend.calls import commands
from backend.calls.streams import events_stream
from backend.core.db import replicas_confirmed, wait_for_replicas
from backend.core.leader import LeaderLock
from backend.core.retry import every
from backend.core.settings import Settings
from telephony import queries
from telephony.context import Context
from telephony.provider import ProviderError

log = logging.getLogger("telephony")


def ended_event(row: Any, ended_at: datetime) -> dict[str, Any]:
    """The CALL_ENDED the provider did not deliver. Its id is ours and stable, so checking twice adds it
    once; if the provider's own end arrives later, the backend ignores it (the call already ended)."""
    now = datetime.now(UTC).isoformat()
    return {"eventId": f"watch-{row['call_id']}-ended", "type": "CALL_ENDED", "callId": row["call_id"],
            "operatorId": row["operator_id"], "campaignTaskId": row["campaign_task_id"], "phone": row["phone"],
            "occurredAt": ended_at.isoformat(), "polledAt": now, "appendedAt": now}


def call_interval(settings: Settings) -> float:
    return min(5.0, settings.call_check_seconds / 2)


def task_interval(settings: Settings) -> float:
    return min(10.0, settings.task_check_seconds / 3)


def watch_leader(ctx: Context) -> LeaderLock:
    """One lock for both watches, renewed at each of their passes: it outlives three of the longer one."""
    ttl = 3 * max(call_interval(ctx.settings), task_interval(ctx.settings))
    return LeaderLock(ctx.redis, ctx.settings.redis_key_prefix + "telephony:watch:leader", ttl, token=ctx.instance)


class CallWatch:
    def __init__(self, ctx: Context, leader: LeaderLock) -> None:
        self._ctx = ctx
        self._leader = leader
        self._stream = events_stream(ctx.settings)
        self._checked: dict[str, float] = {}  # call id -> when we last asked the provider
        # How long an end the provider reports may take to reach us by polling before we call it lost.
        self._grace = max(5.0, 4 * ctx.settings.poll_interval_seconds)

    async def run_forever(self) -> None:
        await every("call watch", call_interval(self._ctx.settings), self.check)

    async def check(self) -> None:
        ctx = self._ctx
        settings = ctx.settings
        if not await self._leader.hold():
            self._checked = {}  # another process watches; if we lead again, we start afresh
            return
        rows = await queries.calls_to_check(ctx.pool, settings.call_check_seconds)
        now = time.monotonic()
        self._checked = {r["call_id"]: self._checked.get(r["call_id"], 0.0) for r in rows}
        for row in rows:
            call_id = row["call_id"]
            if now - self._checked[call_id] < settings.call_check_seconds:
                continue
            self._checked[call_id] = now
            try:
                call = await ctx.provider.get_call(call_id)
            except ProviderError as exc:
                ctx.metrics.failed(exc)
                if exc.status != 404:
                    continue
                await self._ended(row, datetime.now(UTC), "unknown to the provider")
                continue
            ctx.metrics.succeeded()
            if call.status == "ENDED":
                ended_at = call.endedAt or datetime.now(UTC)
                if (datetime.now(UTC) - ended_at).total_seconds() < self._grace:
                    # Just ended: its event is probably on its way (polling runs late, Redis was away).
                    self._checked[call_id] = now - settings.call_check_seconds + self._grace
                    continue
                await self._ended(row, ended_at, "its hang-up event was lost")
            elif float(row["seconds"]) > settings.max_call_seconds:
                log.warning("call %s of operator %s is on after %.0f s: hanging up", call_id, row["operator_id"],
                            float(row["seconds"]))
                try:
                    await ctx.provider.end_call(call_id)
                    ctx.metrics.calls_hung_up.inc()
                    self._checked[call_id] = now - settings.call_check_seconds + 2  # look again soon
                except ProviderError as exc:
                    ctx.metrics.failed(exc)

    async def _ended(self, row: Any, ended_at: datetime, why: str) -> None:
        log.warning("call %s of operator %s ended without its event (%s): ending it", row["call_id"],
                    row["operator_id"], why)
        async with self._ctx.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self._stream, {"event": msgspec.json.encode(ended_event(row, ended_at))},
                      maxlen=1_000_000, approximate=True)
            waited = wait_for_replicas(pipe, self._ctx.settings)
            replies = await pipe.execute()
        if waited:
            replicas_confirmed(replies[-1], self._ctx.settings)
        self._ctx.metrics.lost_hangups.inc()


TASKS_PER_PASS = 50


class TaskWatch:
    def __init__(self, ctx: Context, leader: LeaderLock) -> None:
        self._ctx = ctx
        self._leader = leader

    async def run_forever(self) -> None:
        await every("task watch", task_interval(self._ctx.settings), self.check)

    async def check(self) -> None:
        ctx = self._ctx
        if not await self._leader.hold():
            return
        for row in await queries.held_tasks(ctx.pool, ctx.settings.task_check_seconds, TASKS_PER_PASS):
            try:
                task = await ctx.provider.get_task(row["provider_task_id"])
                ctx.metrics.succeeded()
                lost = None if task.status in ("NEW", "IN_PROGRESS", "DONE") else "cancelled by the provider"
            except ProviderError as exc:
                ctx.metrics.failed(exc)
                if exc.status != 404:
                    return  # the provider is away: try again next pass
                lost = "no longer known to the provider"
            if lost is None:
                await queries.task_checked(ctx.pool, row["id"])
                continue
            async with ctx.pool.acquire() as conn, conn.transaction():
                again = await queries.task_lost(conn, row["id"], row["campaign_task_id"], lost)
            if again is not None:
                log.warning("dial task %s (campaign task %s) %s: queued again as %s", row["provider_task_id"],
                            row["campaign_task_id"], lost, again)
                ctx.metrics.tasks_requeued.inc()
                await commands.send(ctx.redis, ctx.settings, [
                    {"type": "ADD_TASK", "telephonyTaskId": again, "campaignTaskId": row["campaign_task_id"]}])
