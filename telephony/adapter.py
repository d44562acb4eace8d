"""The telephony process: provider sessions, event polling, dial-task commands, operator availability.

* Active operators live in ``telephony_active_sessions`` (with the provider session and the event cursor)
  and in memory; a restarted process loads them and resumes polling from each cursor.
* Polling appends each new provider event to the call-event stream *before* saving the cursor: a crash
  in between re-reads the event, and its deterministic eventId makes it a no-op downstream. Nothing is
  skipped, nothing applies twice.
* Sessions are reconciled with the workstation every few seconds: an operator with a live workstation
  session gets a provider session (re-opened if the provider dropped it, e.g. after 15 idle minutes),
  and one without loses it. OPEN/CLOSE commands from login/logout make that immediate.
* Provider failures are retried with jittered backoff; ``parsing.classify`` alone decides what is
  retryable. An accepted command is acknowledged only once done (or refused as fatal).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from backend.calls.commands import GROUP, commands_stream
from backend.calls.consumer import RETRYABLE, backoff, stream_name
from backend.core.errors import DEPENDENCY_ERRORS
from backend.settings import Settings
from telephony.parsing import in_order, to_call_event
from telephony.provider import Provider, ProviderError

log = logging.getLogger("telephony")
RECONCILE_SECONDS = 3.0
RESEND_AFTER_SECONDS = 30


@dataclass
class Active:
    operator_id: int
    session_id: str
    cursor: int
    reported: str | None = None  # the availability last sent to the provider


@dataclass
class Metrics:
    provider_up: bool = True
    last_error: str = ""
    last_error_at: float = 0.0
    consecutive_failures: int = 0
    events_appended: int = 0
    commands_done: int = 0
    commands_refused: int = 0
    provider_errors: int = 0
    sessions_opened: int = 0
    sessions_closed: int = 0
    duplicate_tasks_suppressed: int = 0
    poll_cycles: int = 0
    last_event_lag_ms: float = 0.0  # provider stamp -> appended to the stream
    started_at: float = field(default_factory=time.time)


class Adapter:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, provider: Provider) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._provider = provider
        self._active: dict[int, Active] = {}
        self._lock = asyncio.Lock()  # session open/close/reconcile run one at a time
        self._events_stream = stream_name(settings)
        self._commands_stream = commands_stream(settings)
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = Metrics()

    # -- provider calls with the one retry policy ---------------------------------------------------------

    def _failed(self, exc: ProviderError) -> None:
        m = self.metrics
        m.provider_errors += 1
        m.last_error, m.last_error_at = str(exc), time.time()
        if exc.verdict == "retry":
            m.consecutive_failures += 1
            if m.consecutive_failures >= 3 and m.provider_up:
                log.warning("provider marked down: %s", exc)
                m.provider_up = False

    def _succeeded(self) -> None:
        if not self.metrics.provider_up:
            log.info("provider is back")
        self.metrics.provider_up = True
        self.metrics.consecutive_failures = 0

    # -- start-up ----------------------------------------------------------------------------------------

    async def load(self) -> None:
        rows = await self._pool.fetch(
            "SELECT operator_id, provider_session_id, event_cursor FROM telephony_active_sessions")
        self._active = {r["operator_id"]: Active(r["operator_id"], r["provider_session_id"] or "",
                                                 int(r["event_cursor"] or 0)) for r in rows}
        log.info("resuming %d active operator session(s)", len(self._active))

    async def run_forever(self) -> None:
        await self.load()
        await asyncio.gather(self._poll_forever(), self._commands_forever(), self._reconcile_forever())

    # -- sessions -------------------------------------------------------------------------------------------

    async def _credentials(self, operator_id: int) -> tuple[str, str] | None:
        row = await self._pool.fetchrow(
            """SELECT coalesce(t.provider_login, o.login) AS login, coalesce(t.provider_secret, '') AS secret
                 FROM operators o LEFT JOIN telephony_operators t ON t.operator_id = o.id WHERE o.id = $1""",
            operator_id)
        return None if row is None else (row["login"], row["secret"])

    async def open_session(self, operator_id: int) -> None:
        creds = await self._credentials(operator_id)
        if creds is None:
            return
        session_id = await self._provider.open_session(*creds)
        self._succeeded()
        await self._pool.execute(
            """INSERT INTO telephony_active_sessions (operator_id, provider_session_id, event_cursor)
               VALUES ($1, $2, '0')
               ON CONFLICT (operator_id) DO UPDATE SET provider_session_id = $2, event_cursor = '0',
                                                     last_request_at = now()""",
            operator_id, session_id)
        self._active[operator_id] = Active(operator_id, session_id, 0)
        self.metrics.sessions_opened += 1
        log.info("provider session opened for operator %s", operator_id)

    async def close_session(self, operator_id: int) -> None:
        active = self._active.get(operator_id)
        if active is not None and active.session_id:
            await self._provider.close_session(active.session_id)
            self._succeeded()
        self._active.pop(operator_id, None)
        await self._pool.execute("DELETE FROM telephony_active_sessions WHERE operator_id = $1", operator_id)
        self.metrics.sessions_closed += 1
        log.info("provider session closed for operator %s", operator_id)

    async def _live_operators(self) -> set[int]:
        rows = await self._pool.fetch(
            """SELECT DISTINCT s.operator_id FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
                WHERE o.role = 'operator' AND NOT o.locked AND s.revoked_at IS NULL
                  AND s.idle_expires_at > now() AND s.absolute_expires_at > now()""")
        return {r["operator_id"] for r in rows}

    async def reconcile(self) -> None:
        async with self._lock:
            live = await self._live_operators()
            for operator_id in sorted(live - set(self._active)):
                await self.open_session(operator_id)
            for operator_id in sorted(set(self._active) - live):
                await self.close_session(operator_id)

    async def _reconcile_forever(self) -> None:
        attempt = 0
        while True:
            try:
                await self.reconcile()
                attempt = 0
                await asyncio.sleep(RECONCILE_SECONDS)
            except ProviderError as exc:
                self._failed(exc)
                attempt += 1
                await asyncio.sleep(backoff(attempt))
            except DEPENDENCY_ERRORS as exc:
                log.warning("reconcile: %s", type(exc).__name__)
                attempt += 1
                await asyncio.sleep(backoff(attempt))

    # -- polling --------------------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        semaphore = asyncio.Semaphore(self._settings.poll_concurrency)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._sync_availability()
                results = await asyncio.gather(
                    *(self._poll_one(active, semaphore) for active in list(self._active.values())),
                    return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException) and not isinstance(result, ProviderError):
                        raise result
                failures = [r for r in results if isinstance(r, ProviderError) and r.verdict == "retry"]
                attempt = attempt + 1 if failures else 0
                self.metrics.poll_cycles += 1
            except DEPENDENCY_ERRORS as exc:
                log.warning("poll cycle: %s", type(exc).__name__)
                attempt += 1
            delay = self._settings.poll_interval_seconds + (backoff(attempt) if attempt else 0.0)
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)))

    async def _poll_one(self, active: Active, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            try:
                page = await self._provider.events(active.session_id, active.cursor)
            except ProviderError as exc:
                self._failed(exc)
                if exc.verdict == "session_expired":
                    await self._reopen(active.operator_id)
                raise
            self._succeeded()
            polled_at = datetime.now(UTC)
            fresh = [e for e in in_order(page.events) if e.id > active.cursor]
            if not fresh:
                return
            async with self._redis.pipeline(transaction=False) as pipe:
                appended_at = datetime.now(UTC).isoformat()
                for event in fresh:
                    call_event = to_call_event(event, active.operator_id, polled_at)
                    if call_event is None:
                        log.warning("provider event %s is not a campaign call; skipped", event.id)
                        continue
                    call_event["appendedAt"] = appended_at
                    pipe.xadd(self._events_stream, {"event": msgspec.json.encode(call_event)},
                              maxlen=1_000_000, approximate=True)
                await pipe.execute()
            cursor = max(e.id for e in fresh)
            ended = [e.taskId for e in fresh if e.type == "call.ended"]
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    """UPDATE telephony_active_sessions SET event_cursor = $2, last_request_at = now()
                        WHERE operator_id = $1 AND provider_session_id = $3""",
                    active.operator_id, str(cursor), active.session_id)
                if ended:
                    await conn.execute(
                        """UPDATE telephony_tasks SET task_state = 'DONE'
                            WHERE task_type = 'ADD' AND provider_task_id = ANY($1::text[])""", ended)
            active.cursor = cursor
            self.metrics.events_appended += len(fresh)
            self.metrics.last_event_lag_ms = round((datetime.now(UTC) - fresh[-1].at).total_seconds() * 1000, 1)

    async def _reopen(self, operator_id: int) -> None:
        """The provider dropped the session (idle past its limit, or restarted): open it again if the
        operator is still at the workstation, else forget it."""
        async with self._lock:
            if operator_id in await self._live_operators():
                log.info("provider session of operator %s expired; re-opening", operator_id)
                await self.open_session(operator_id)
            else:
                self._active.pop(operator_id, None)
                await self._pool.execute("DELETE FROM telephony_active_sessions WHERE operator_id = $1", operator_id)

    async def _sync_availability(self) -> None:
        """Report READY/BUSY from the workstation's operator state, so that the provider does not ring an
        operator who is still inside a result window."""
        if not self._active:
            return
        rows = await self._pool.fetch(
            "SELECT operator_id, state FROM operator_states WHERE operator_id = ANY($1::bigint[])",
            list(self._active))
        for row in rows:
            active = self._active.get(row["operator_id"])
            wanted = "READY" if row["state"] in ("READY", "OFFLINE") else "BUSY"
            if active is None or active.reported == wanted:
                continue
            try:
                await self._provider.set_status(active.session_id, wanted)
                active.reported = wanted
            except ProviderError as exc:
                self._failed(exc)

    # -- commands -------------------------------------------------------------------------------------------

    async def _commands_forever(self) -> None:
        attempt = 0
        while True:
            try:
                try:
                    await self._redis.xgroup_create(self._commands_stream, GROUP, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                # Our own unacknowledged commands first (a crash mid-command), then new ones.
                for start in ("0", ">"):
                    while True:
                        reply: Any = await self._redis.xreadgroup(
                            GROUP, self._consumer, {self._commands_stream: start}, count=50,
                            block=None if start == "0" else 1000)
                        entries = reply[0][1] if reply else []
                        if not entries:
                            break
                        for entry_id, fields in entries:
                            await self._handle_command(entry_id, fields)
                        if start == ">":
                            continue
                attempt = 0
            except asyncio.CancelledError:
                raise
            except RETRYABLE as exc:
                attempt += 1
                log.warning("commands: %s", type(exc).__name__)
                await asyncio.sleep(backoff(attempt))

    async def _handle_command(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"command") or fields.get("command") or b"{}"
        attempt = 0
        while True:
            try:
                command = msgspec.json.decode(raw)
                await self.execute(command)
                self.metrics.commands_done += 1
                break
            except ProviderError as exc:
                self._failed(exc)
                if exc.verdict != "retry":
                    log.error("command %s refused by the provider: %s", entry_id, exc)
                    self.metrics.commands_refused += 1
                    break
                attempt += 1
                await asyncio.sleep(backoff(attempt))  # keep it: an accepted command is never lost
            except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
                log.error("command %s malformed: %s", entry_id, exc)
                self.metrics.commands_refused += 1
                break
        await self._redis.xack(self._commands_stream, GROUP, entry_id)

    async def execute(self, command: dict[str, Any]) -> None:
        kind = command["type"]
        if kind == "OPEN_SESSION":
            async with self._lock:
                if int(command["operatorId"]) not in self._active:
                    await self.open_session(int(command["operatorId"]))
        elif kind == "CLOSE_SESSION":
            async with self._lock:
                if int(command["operatorId"]) in self._active:
                    await self.close_session(int(command["operatorId"]))
        elif kind == "ADD_TASK":
            await self.add_task(int(command["telephonyTaskId"]))
        elif kind == "DELETE_TASK":
            await self.delete_task(int(command["telephonyTaskId"]))
        else:
            raise ValueError(f"unknown command {kind!r}")

    async def add_task(self, telephony_task_id: int) -> None:
        row = await self._pool.fetchrow(
            """SELECT tt.id, tt.task_state, tt.provider_task_id, ct.id AS campaign_task_id, ct.phone
                 FROM telephony_tasks tt JOIN campaign_tasks ct ON ct.id = tt.campaign_task_id
                WHERE tt.id = $1 AND tt.task_type = 'ADD'""", telephony_task_id)
        if row is None or row["task_state"] == "DONE":
            return
        if row["provider_task_id"]:
            # Sent before: while the provider still holds it as NEW (or dialing), sending again would
            # ring the client twice (seed ch. 2.6.6.4).
            task = await self._provider.get_task(row["provider_task_id"])
            self._succeeded()
            if task.status in ("NEW", "IN_PROGRESS"):
                self.metrics.duplicate_tasks_suppressed += 1
                return
        task = await self._provider.add_task(str(row["campaign_task_id"]), row["phone"])
        self._succeeded()
        await self._pool.execute(
            "UPDATE telephony_tasks SET provider_task_id = $2, task_state = 'IN_PROGRESS' WHERE id = $1",
            telephony_task_id, task.taskId)

    async def delete_task(self, telephony_task_id: int) -> None:
        row = await self._pool.fetchrow(
            """SELECT d.id, d.task_state, a.id AS add_id, a.provider_task_id
                 FROM telephony_tasks d
                 LEFT JOIN telephony_tasks a ON a.campaign_task_id = d.campaign_task_id AND a.task_type = 'ADD'
                WHERE d.id = $1 AND d.task_type = 'DELETE'
                ORDER BY a.id DESC LIMIT 1""", telephony_task_id)
        if row is None or row["task_state"] == "DONE":
            return
        if row["provider_task_id"]:
            try:
                await self._provider.cancel_task(row["provider_task_id"])
                self._succeeded()
            except ProviderError as exc:
                if exc.verdict == "retry":
                    raise
                # 404/409: gone or already called; nothing left to cancel.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE telephony_tasks SET task_state = 'DONE' WHERE id = ANY($1::bigint[])",
                               [row["id"]] + ([row["add_id"]] if row["add_id"] else []))

    def health(self) -> dict[str, Any]:
        m = self.metrics
        return {"status": "OK" if m.provider_up else "DEGRADED", "provider": "up" if m.provider_up else "down",
                "activeSessions": len(self._active), "lastError": m.last_error or None,
                "consecutiveFailures": m.consecutive_failures, "eventsAppended": m.events_appended,
                "lastEventLagMs": m.last_event_lag_ms}

    def metrics_text(self) -> str:
        m = self.metrics
        lines = [
            ("telephony_provider_up", "gauge", int(m.provider_up)),
            ("telephony_active_sessions", "gauge", len(self._active)),
            ("telephony_events_appended_total", "counter", m.events_appended),
            ("telephony_commands_done_total", "counter", m.commands_done),
            ("telephony_commands_refused_total", "counter", m.commands_refused),
            ("telephony_provider_errors_total", "counter", m.provider_errors),
            ("telephony_sessions_opened_total", "counter", m.sessions_opened),
            ("telephony_sessions_closed_total", "counter", m.sessions_closed),
            ("telephony_duplicate_tasks_suppressed_total", "counter", m.duplicate_tasks_suppressed),
            ("telephony_poll_cycles_total", "counter", m.poll_cycles),
            ("telephony_last_event_lag_milliseconds", "gauge", m.last_event_lag_ms),
        ]
        return "".join(f"# TYPE {name} {kind}\n{name} {value}\n" for name, kind, value in lines)
