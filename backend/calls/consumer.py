"""Consumes the call-event Redis Stream with a consumer group.

At-least-once: an entry is acknowledged only after its database transaction committed; entries left pending
by a crashed consumer are claimed after STREAM_CLAIM_IDLE_SECONDS (looked for every half of it, busy or
not); a redelivered entry is a no-op because events are idempotent by id. Any number of workers share the
stream as one consumer group, each entry read by one of them. A malformed or unknown event is copied to
the dead-letter record (table ``dead_letters``) and acknowledged, so one bad entry never blocks the rest.
Redis errors (including a restart that lost the group) are retried with the one backoff policy (``core.retry``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from backend.calls import queries
from backend.calls.intake import CallEventSink
from backend.calls.schemas import parse_event
from backend.calls.streams import EVENTS_GROUP as GROUP
from backend.calls.streams import events_stream
from backend.core.errors import AppError
from backend.core.metrics import CALL_EVENTS, SCREEN_POP, STREAM_LAG
from backend.core.retry import RETRYABLE, beat, run_forever
from backend.core.settings import Settings

log = logging.getLogger("backend.calls")

BATCH = 100
MAX_DELIVERIES = 5


class CallEventConsumer:
    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool, settings: Settings, sink: CallEventSink) -> None:
        self._redis = redis
        self._pool = pool
        self._stream = events_stream(settings)
        self._sink = sink
        self._claim_idle_ms = int(settings.stream_claim_idle_seconds * 1000)
        self._claim_every = settings.stream_claim_idle_seconds / 2
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"
        # How many events run at once, hence how many pooled connections the consumer holds: a fixed number,
        # reused warm. Unbounded, a burst's batch (one lane per operator) opened up to a connection per lane.
        self._slots = asyncio.Semaphore(max(1, min(settings.call_event_concurrency, settings.db_pool_max_size - 2)))

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run_forever(self) -> None:
        await run_forever("call-event consumer", self._consume)

    async def _consume(self) -> None:
        await self._ensure_group()
        await self._read_batch(own_pending=True)  # what we read before a failure, at once
        await self._claim_stale()
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        while True:
            # Claim on a clock, not only when idle: under steady traffic a read is never empty, and a dead
            # consumer's entries would wait for the traffic to stop.
            if not await self._read_batch() or loop.time() - claimed_at >= self._claim_every:
                await self._claim_stale()
                claimed_at = loop.time()
            beat("call-event consumer")

    async def _read_batch(self, *, own_pending: bool = False) -> int:
        reply: Any = await self._redis.xreadgroup(GROUP, self._consumer, {self._stream: "0" if own_pending else ">"},
                                                  count=BATCH, block=None if own_pending else 1000)
        entries = reply[0][1] if reply else []
        await self._handle_batch(entries)
        return len(entries)

    async def _handle_batch(self, entries: list[Any]) -> None:
        """A batch's events, those of different operators at the same time, each operator's in stream order
        (issue 16: one event after another, every round trip of one waited for before the next began, was
        the screen pop's queue under load). An operator's events touch their own state row, communication
        and task; two operators' events share no row, so running them side by side changes no outcome."""
        if len(entries) <= 1:
            for entry_id, fields in entries:
                await self._handle(entry_id, fields)
            return
        lanes: dict[Any, list[Any]] = {}
        for entry_id, fields in entries:
            lanes.setdefault(_operator_of(fields), []).append((entry_id, fields))

        async def lane(items: list[Any]) -> None:
            for entry_id, fields in items:
                async with self._slots:
                    await self._handle(entry_id, fields)

        # A retryable failure cancels the rest: what was not acknowledged is read again (idempotent by id).
        try:
            async with asyncio.TaskGroup() as group:
                for items in lanes.values():
                    group.create_task(lane(items))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None  # as one event's failure would: the retry policy decides

    async def _claim_stale(self) -> None:
        """Take over entries a crashed consumer read but never acknowledged."""
        start = "0-0"
        while True:
            reply: Any = await self._redis.xautoclaim(self._stream, GROUP, self._consumer, self._claim_idle_ms,
                                                 start_id=start, count=BATCH)
            start, entries = reply[0], reply[1]
            for entry_id, fields in entries:
                if fields:  # entries deleted from the stream come back empty
                    await self._handle(entry_id, fields)
                else:
                    await self._redis.xack(self._stream, GROUP, entry_id)
            if start in (b"0-0", "0-0") or not entries:
                return

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"event") or fields.get("event") or b""
        try:
            event = parse_event(raw)
            outcome = await self._sink.apply_call_event(event)
            _observe(entry_id, event.type, outcome.status)
        except (msgspec.ValidationError, msgspec.DecodeError, AppError) as exc:
            CALL_EVENTS.labels("REJECTED").inc()
            log.error("call event %s rejected: %s", entry_id, exc)
            await self._dead_letter(entry_id, raw, str(exc))
        except RETRYABLE:
            raise  # not acknowledged: retried after the backoff
        except Exception as exc:
            # A bug, not the event's fault: leave it pending to be retried; after MAX_DELIVERIES park it.
            log.exception("call event %s failed", entry_id)
            pending: Any = await self._redis.xpending_range(self._stream, GROUP, min=entry_id, max=entry_id, count=1)
            if not pending or int(pending[0]["times_delivered"]) < MAX_DELIVERIES:
                return
            await self._dead_letter(entry_id, raw, repr(exc))
        await self._redis.xack(self._stream, GROUP, entry_id)

    async def _dead_letter(self, entry_id: Any, raw: Any, error: str) -> None:
        await queries.dead_letter(self._pool, "call-event", f"stream entry {entry_id!r}: {error}", raw)


_WORKER_STAGE = SCREEN_POP.labels("worker")


def _observe(entry_id: Any, event_type: str, status: str) -> None:
    """The stream entry's age when applied (its id is the time Redis appended it, in ms): the lag, and for a
    call start that made a card, the screen pop's worker stage."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    age = max(0.0, time.time() - int(raw.split("-", 1)[0]) / 1000)
    STREAM_LAG.set(age)
    CALL_EVENTS.labels(status).inc()
    if event_type == "CALL_STARTED" and status == "APPLIED":
        _WORKER_STAGE.observe(age)


_operator_field = msgspec.json.Decoder(dict[str, Any])


def _operator_of(fields: dict[Any, Any]) -> Any:
    """The operator an entry is about (its lane), or None for one that does not parse (it is rejected in the
    lane of the unparsable, in order)."""
    raw = fields.get(b"event") or fields.get("event") or b""
    try:
        return _operator_field.decode(raw).get("operatorId")
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError):
        return None
