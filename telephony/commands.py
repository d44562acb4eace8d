"""Carries out the backend's commands from the ``telephony-commands`` stream: provider sessions
(OPEN_SESSION / CLOSE_SESSION) and dial tasks (ADD_TASK / DELETE_TASK).

* Each command runs in its own task (at most COMMAND_CONCURRENCY at once), so one that keeps failing
  never holds up the others; commands about the same campaign task or operator still run in stream order.
* "No answer" and 5xx are retried under the shared policy (``core.retry``) until the provider confirms;
  a final answer (``parsing.classify``) is recorded on the telephony task (FAILED + reason). Only then is
  the entry acknowledged; while it is being retried its pending entry is kept fresh, so it is not taken
  over as abandoned.
* Entries a dead consumer read but never acknowledged are claimed (XAUTOCLAIM) once idle for
  STREAM_CLAIM_IDLE_SECONDS. Several telephony processes share the stream as one consumer group, so each
  entry is carried out by one of them; one that was paused past the claim time finds, at its next attempt,
  that the entry is another's and stops (``_keep_claimed``). Should both have sent it, the ADD's
  Idempotency-Key makes the provider hold one task. OPEN/CLOSE_SESSION act only on an operator whose lease
  this process holds or can take (``sessions``); else its holder's reconcile does it.
* An ADD is idempotent end to end: it carries an Idempotency-Key derived from our telephony task, the
  fact that it is being sent is written first, and a retry after a crash between send and record asks
  the provider for the task (by external id and key) instead of adding it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict
from typing import Any

import msgspec
from redis.exceptions import ResponseError

from backend.calls import queries as call_queries
from backend.calls.streams import COMMANDS_GROUP, commands_stream
from backend.core.retry import RETRYABLE, beat, retrying, run_forever
from telephony import queries
from telephony.context import Context
from telephony.provider import ProviderError
from telephony.sessions import Sessions

log = logging.getLogger("telephony")
BATCH = 50

# KEYS[1] stream; ARGV: group, consumer, entry id. Resets the entry's idle time if it is still ours.
_KEEP_CLAIMED = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then
    return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


class CommandTaken(Exception):
    """Another consumer claimed the command's entry (we looked dead to it): it is theirs to carry out."""


def _worth_retrying(exc: Exception) -> bool | float:
    """Retry "no answer", 5xx and 429 under the shared backoff, or after the provider's Retry-After."""
    if isinstance(exc, ProviderError):
        return exc.verdict == "retry" and (exc.retry_after or True)
    return isinstance(exc, RETRYABLE)


def idempotency_key(row: Any) -> str:
    """Ours and unique per telephony task, also across databases (its creation time is part of it)."""
    return f"tt-{row['id']}-{int(row['created_at'].timestamp() * 1_000_000)}"


class Commands:
    def __init__(self, ctx: Context, sessions: Sessions) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._stream = commands_stream(ctx.settings)
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._claim_idle_ms = int(ctx.settings.stream_claim_idle_seconds * 1000)
        self._slots = asyncio.Semaphore(ctx.settings.command_concurrency)
        self._inflight: dict[Any, asyncio.Task[None]] = {}
        self._order: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._users: defaultdict[str, int] = defaultdict(int)

    async def run_forever(self) -> None:
        await run_forever("commands", self._consume)

    async def _consume(self) -> None:
        redis = self._ctx.redis
        try:
            await redis.xgroup_create(self._stream, COMMANDS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._read("0")  # our own, from before a reconnect
        while True:
            await self._claim_abandoned()
            await self._read(">", block=1000)
            beat("commands")

    async def _read(self, start: str, block: int | None = None) -> None:
        while True:
            await self._slots.acquire()  # back-pressure: read no more than we can run
            self._slots.release()
            reply: Any = await self._ctx.redis.xreadgroup(COMMANDS_GROUP, self._consumer, {self._stream: start},
                                                          count=BATCH, block=block)
            entries = reply[0][1] if reply else []
            for entry_id, fields in entries:
                self._spawn(entry_id, fields)
            if start == ">" or len(entries) < BATCH:
                return

    async def _claim_abandoned(self) -> None:
        start = "0-0"
        while True:
            reply: Any = await self._ctx.redis.xautoclaim(self._stream, COMMANDS_GROUP, self._consumer,
                                                          self._claim_idle_ms, start_id=start, count=BATCH)
            start, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields:
                    log.info("command %s taken over from a consumer that stopped", entry_id)
                    self._spawn(entry_id, fields)
                else:  # trimmed from the stream meanwhile
                    await self._ctx.redis.xack(self._stream, COMMANDS_GROUP, entry_id)
            if start in (b"0-0", "0-0") or not entries:
                return

    def _spawn(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        if entry_id in self._inflight:
            return
        raw = fields.get(b"command") or fields.get("command") or b"{}"
        try:
            command = msgspec.json.decode(raw)
            key = _order_key(command)
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            coro = self._malformed(entry_id, raw, exc)
        else:
            self._users[key] += 1  # the key's lock lives while a command of it is pending
            coro = self._run(entry_id, raw, command, key)
        task = asyncio.create_task(coro, name=f"command-{entry_id!r}")
        self._inflight[entry_id] = task
        task.add_done_callback(lambda _: self._inflight.pop(entry_id, None))

    async def _run(self, entry_id: Any, raw: bytes, command: dict[str, Any], key: str) -> None:
        metrics = self._ctx.metrics
        try:
            async with self._order[key], self._slots:
                async for attempt in retrying(_worth_retrying):
                    with attempt:
                        await self._keep_claimed(entry_id)
                        try:
                            await self.execute(command)
                        except ProviderError as exc:
                            metrics.failed(exc)
                            raise
            metrics.commands_done.inc()
        except ProviderError as exc:
            log.error("command %s refused by the provider: %s", entry_id, exc)
            metrics.commands_refused.inc()
            if "telephonyTaskId" in command:
                try:
                    await queries.task_failed(self._ctx.pool, int(command["telephonyTaskId"]), str(exc))
                except RETRYABLE as lost:  # PostgreSQL away: not acknowledged, so it is taken up again
                    log.warning("command %s: its refusal not recorded (%s); it stays pending and is taken up "
                                "again", entry_id, type(lost).__name__)
                    return
        except (KeyError, TypeError, ValueError) as exc:
            await self._malformed(entry_id, raw, exc)
            return
        except CommandTaken:
            log.info("command %s was taken over by another consumer; leaving it to them", entry_id)
            return
        except Exception:
            log.exception("command %s failed; it stays pending and is taken up again", entry_id)
            return
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                self._order.pop(key, None)
        try:
            await self._ctx.redis.xack(self._stream, COMMANDS_GROUP, entry_id)
        except RETRYABLE as exc:  # Redis away at this moment: the command is done (idempotent) but pending
            log.warning("command %s carried out but not acknowledged (%s); it stays pending and is taken up "
                        "again", entry_id, type(exc).__name__)

    async def _keep_claimed(self, entry_id: Any) -> None:
        """Reset the entry's idle time, so a command being retried is not taken as abandoned — only while it
        is still ours: if another process claimed it meanwhile (we were paused past the claim time), it is
        theirs, and we stop rather than steal it back and run it side by side."""
        ours = await self._ctx.redis.eval(_KEEP_CLAIMED, 1, self._stream, COMMANDS_GROUP, self._consumer, entry_id)
        if not int(ours):
            raise CommandTaken(entry_id)

    async def _malformed(self, entry_id: Any, raw: bytes, exc: Exception) -> None:
        log.error("command %s malformed: %s", entry_id, exc)
        self._ctx.metrics.commands_refused.inc()
        self._ctx.metrics.dead_letters.inc()
        async for attempt in retrying(RETRYABLE):
            with attempt:
                await call_queries.dead_letter(self._ctx.pool, "command", f"malformed command: {exc}", raw)
                await self._ctx.redis.xack(self._stream, COMMANDS_GROUP, entry_id)

    async def execute(self, command: dict[str, Any]) -> None:
        kind = command["type"]
        if kind == "OPEN_SESSION":
            await self._sessions.ensure_open(int(command["operatorId"]))
        elif kind == "CLOSE_SESSION":
            await self._sessions.ensure_closed(int(command["operatorId"]))
        elif kind == "ADD_TASK":
            await self.add_task(int(command["telephonyTaskId"]))
        elif kind == "DELETE_TASK":
            await self.delete_task(int(command["telephonyTaskId"]))
        else:
            raise ValueError(f"unknown command {kind!r}")

    async def add_task(self, telephony_task_id: int) -> None:
        ctx = self._ctx
        row = await queries.add_task(ctx.pool, telephony_task_id)
        if row is None or row["task_state"] in ("DONE", "FAILED"):
            return
        key = idempotency_key(row)
        if row["provider_task_id"]:
            # Sent before: while the provider still holds it as NEW (or dialing), sending again would
            # ring the client twice (seed ch. 2.6.6.4); once it is done or cancelled there, so is ours.
            task = await ctx.provider.get_task(row["provider_task_id"])
            ctx.metrics.succeeded()
            if task.status in ("NEW", "IN_PROGRESS"):
                ctx.metrics.duplicate_tasks_suppressed.inc()
            else:
                await queries.tasks_done(ctx.pool, [telephony_task_id])
            return
        if row["send_started_at"] is not None:
            # A previous attempt may have reached the provider and died before recording the answer.
            known = [t for t in await ctx.provider.find_tasks(str(row["campaign_task_id"]))
                     if t.idempotencyKey == key]
            ctx.metrics.succeeded()
            if known:
                ctx.metrics.duplicate_tasks_suppressed.inc()
                log.info("telephony task %s was already at the provider as %s", telephony_task_id, known[0].taskId)
                await queries.task_sent(ctx.pool, telephony_task_id, known[0].taskId)
                return
        await queries.sending(ctx.pool, telephony_task_id)
        task = await ctx.provider.add_task(str(row["campaign_task_id"]), row["phone"], key)
        ctx.metrics.succeeded()
        await queries.task_sent(ctx.pool, telephony_task_id, task.taskId)

    async def delete_task(self, telephony_task_id: int) -> None:
        ctx = self._ctx
        row = await queries.delete_task(ctx.pool, telephony_task_id)
        if row is None or row["task_state"] == "DONE":
            return
        if row["provider_task_id"]:
            try:
                await ctx.provider.cancel_task(row["provider_task_id"])
                ctx.metrics.succeeded()
            except ProviderError as exc:
                if exc.verdict == "retry":
                    raise
                # 404/409: gone or already called; nothing left to cancel.
        await queries.tasks_done(ctx.pool, [row["id"]] + ([row["add_id"]] if row["add_id"] else []))


def _order_key(command: dict[str, Any]) -> str:
    """Commands with the same key run one after another, in stream order: an ADD and the DELETE that
    cancels it (same campaign task), or an operator's OPEN and CLOSE."""
    if "operatorId" in command:
        return f"operator:{int(command['operatorId'])}"
    if "campaignTaskId" in command:
        return f"task:{int(command['campaignTaskId'])}"
    return f"telephony-task:{int(command['telephonyTaskId'])}"
