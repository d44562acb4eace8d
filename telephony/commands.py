"""Carries out the backend's commands from the ``telephony-commands`` stream: provider sessions
(OPEN_SESSION / CLOSE_SESSION) and dial tasks (ADD_TASK / DELETE_TASK). An accepted command is
acknowledged only once done or refused as final; "no answer" and 5xx are retried under the shared
policy (``core.retry``); ``parsing.classify`` alone decides which provider failure is which."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import msgspec
from redis.exceptions import ResponseError

from backend.calls.streams import COMMANDS_GROUP, commands_stream
from backend.core.retry import retrying, run_forever
from telephony import queries
from telephony.context import Context
from telephony.provider import ProviderError
from telephony.sessions import Sessions

log = logging.getLogger("telephony")


def _worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, ProviderError) and exc.verdict == "retry"


class Commands:
    def __init__(self, ctx: Context, sessions: Sessions) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._stream = commands_stream(ctx.settings)
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"

    async def run_forever(self) -> None:
        await run_forever("commands", self._consume)

    async def _consume(self) -> None:
        redis = self._ctx.redis
        try:
            await redis.xgroup_create(self._stream, COMMANDS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        # Our own unacknowledged commands first (a crash mid-command), then new ones.
        for start in ("0", ">"):
            while True:
                reply: Any = await redis.xreadgroup(COMMANDS_GROUP, self._consumer, {self._stream: start}, count=50,
                                                    block=None if start == "0" else 1000)
                entries = reply[0][1] if reply else []
                if not entries and start == "0":
                    break
                for entry_id, fields in entries:
                    await self._handle(entry_id, fields)

    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"command") or fields.get("command") or b"{}"
        metrics = self._ctx.metrics
        try:
            command = msgspec.json.decode(raw)
            async for attempt in retrying(_worth_retrying):
                with attempt:
                    try:
                        await self.execute(command)
                    except ProviderError as exc:
                        metrics.failed(exc)
                        raise
            metrics.commands_done.inc()
        except ProviderError as exc:
            log.error("command %s refused by the provider: %s", entry_id, exc)
            metrics.commands_refused.inc()
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("command %s malformed: %s", entry_id, exc)
            metrics.commands_refused.inc()
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
        if row is None or row["task_state"] == "DONE":
            return
        if row["provider_task_id"]:
            # Sent before: while the provider still holds it as NEW (or dialing), sending again would
            # ring the client twice (seed ch. 2.6.6.4).
            task = await ctx.provider.get_task(row["provider_task_id"])
            ctx.metrics.succeeded()
            if task.status in ("NEW", "IN_PROGRESS"):
                ctx.metrics.duplicate_tasks_suppressed.inc()
                return
        task = await ctx.provider.add_task(str(row["campaign_task_id"]), row["phone"])
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
