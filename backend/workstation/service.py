"""What happens to communications: call events in, drafts and results saved, windows expiring.

Every change commits together with the operator events that report it, then the events are published;
a crash between the two only delays delivery (the hub's sweep reads them from PostgreSQL).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import redis.asyncio as aioredis

from backend.calls import queries as call_queries
from backend.calls.intake import Outcome
from backend.calls.schemas import CallEvent, event_payload
from backend.core.db import again_if_rolled_back
from backend.core.errors import AppError, BadRequest, Conflict, NotFound
from backend.core.metrics import SAVE_SECONDS, SAVES, WINDOW_OUTCOMES
from backend.core.settings import Settings
from backend.events import queries as events
from backend.events.bus import Frame, encode_frame, publish
from backend.rules import queries as rules_queries
from backend.rules import service as rules_service
from backend.rules.config import RulesConfig, decode
from backend.rules.hours import client_zone
from backend.rules.outcomes import next_step, outcome_of
from backend.workstation import queries
from backend.workstation.card import build_card, result_of
from backend.workstation.schemas import operator_state_data

log = logging.getLogger("backend.workstation")


_IDENTITY = ("type", "callId", "operatorId", "campaignTaskId", "phone")


def same_event(stored: dict[str, Any] | None, event: CallEvent) -> bool:
    """What the event says, not when we happened to read it (polledAt/appendedAt differ on a re-read)."""
    if stored is None:
        return False
    fresh = event_payload(event)
    if any(stored.get(k) != fresh.get(k) for k in _IDENTITY):
        return False
    try:
        return datetime.fromisoformat(str(stored.get("occurredAt"))) == event.occurred_at
    except ValueError:
        return False


def deadline_data(communication_id: int, deadline: datetime, window: int,
                  server_time: datetime | None = None) -> dict[str, Any]:
    """``server_time`` is the database's clock (the one the deadline was computed and is enforced in), so
    the page's countdown corrects for its own clock against that one."""
    server_time = server_time or datetime.now(UTC)
    return {
        "communicationId": communication_id,
        "resultDeadline": deadline.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "resultDeadlineEpochMs": int(deadline.timestamp() * 1000),
        "serverTimeEpochMs": int(server_time.timestamp() * 1000),
        "windowSeconds": window,
    }


class Workstation:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self.zone = ZoneInfo(settings.operator_timezone)

    def _today(self) -> Any:
        return datetime.now(self.zone).date()

    async def _emit(self, conn: Any, frames: list[Frame], operator_id: int, event_type: str,
                    data: dict[str, Any]) -> None:
        seq = await events.append(conn, operator_id, event_type, data)
        frames.append(Frame(operator_id, seq, encode_frame(event_type, seq, data)))

    async def _emit_at(self, conn: Any, frames: list[Frame], operator_id: int, seq: int, event_type: str,
                       data: dict[str, Any]) -> None:
        """An event whose seq was taken with the state change it reports (queries.enter_call_state)."""
        await events.record(conn, operator_id, seq, event_type, data)
        frames.append(Frame(operator_id, seq, encode_frame(event_type, seq, data)))

    async def _release(self, conn: Any, frames: list[Frame], operator_id: int, communication_id: int) -> None:
        """Free the operator from this call. Back to READY needs no event (the call's own events say it is
        over); a pause that was asked for during the call, or AWAY (no socket), is pushed as OPERATOR_STATE."""
        row = await queries.release_if_current(conn, operator_id, communication_id)
        if row is not None and row["state"] != "READY":
            await self._emit(conn, frames, operator_id, "OPERATOR_STATE", operator_state_data(row))

    async def card(self, communication_id: int, operator_id: int | None, conn: Any = None) -> dict[str, Any]:
        row = await queries.card_row(conn or self._pool, communication_id, operator_id)
        if row is None:
            raise NotFound("No such communication", code="COMMUNICATION_NOT_FOUND", field="communicationId")
        return build_card(row, self.zone, self._today())

    async def open_card(self, communication_id: int, operator_id: int) -> dict[str, Any]:
        """The card the operator asked for by id; a rework card (a DRAFT) marks them in rework."""
        row = await queries.card_row(self._pool, communication_id, operator_id)
        if row is None:
            raise NotFound("No such communication", code="COMMUNICATION_NOT_FOUND", field="communicationId")
        if row["state"] == "DRAFT":
            await queries.mark_rework(self._pool, operator_id, communication_id)
        return build_card(row, self.zone, self._today())

    async def snapshot(self, operator_id: int) -> tuple[int, dict[str, Any] | None]:
        """The operator's watermark (last seq) and the current call as of exactly that seq: the card and,
        once the call has ended, its result deadline; None between calls. One REPEATABLE READ transaction,
        so the state shown and the seq agree: every event after the seq is news to whoever loads this
        snapshot, and every event up to it is already reflected in it (exactly once, never lost)."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            seq, current = await queries.current_communication(conn, operator_id)
            if current is None:
                return seq, None
            data: dict[str, Any] = {"communicationId": current,
                                    "clientCard": await self.card(current, operator_id, conn)}
            deadline, now = await queries.open_deadline(conn, current)
        if deadline is not None:
            window = self._settings.result_window_seconds
            data.update(deadline_data(current, deadline, window, now))
        return seq, data

    # -- call events ------------------------------------------------------------------------------------

    async def apply_call_event(self, event: CallEvent) -> Outcome:
        """Idempotent by event id; an end that arrives before its start creates the communication itself."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            first = await queries.record_call_event(conn, event.event_id, event.type, event.call_id,
                                                    event.operator_id, event_payload(event), event.campaign_task_id)
            if not first["fresh"]:
                return await self._repeated(conn, event)
            if first["task_phone"] is None:
                raise BadRequest("Unknown campaign task", code="UNKNOWN_CAMPAIGN_TASK", field="campaignTaskId")
            if first["task_phone"] != event.phone:
                raise BadRequest("Phone does not match the campaign task", code="PHONE_MISMATCH", field="phone")
            # A call starts only for an active operator; the end of a call still applies after a lock.
            active = first["operator_active"]
            if active is None or (event.type == "CALL_STARTED" and not active):
                raise BadRequest("Not an active operator", code="UNKNOWN_OPERATOR", field="operatorId")

            comm = first if first["comm_id"] is not None else None
            status: Literal["APPLIED", "IGNORED"] = "APPLIED"
            if comm is None:
                opened = await queries.open_communication(conn, event.campaign_task_id, event.operator_id,
                                                          event.call_id, event.occurred_at)
                comm_id = opened["id"]
                if opened["previous_open"]:
                    await self._supersede(conn, frames, event.operator_id, opened["previous_id"])
                seq = await queries.enter_call_state(conn, event.operator_id, "ON_CALL", comm_id, None)
                card = await self.card(comm_id, None, conn)
                await self._emit_at(conn, frames, event.operator_id, seq, "CLIENT_CARD_READY",
                                    {"communicationId": comm_id, "clientCard": card})
                call_ended_at = None
                state = "NEW"
            else:
                comm_id, call_ended_at, state = comm["comm_id"], comm["call_ended_at"], comm["comm_state"]
                if event.type == "CALL_STARTED":
                    status = "IGNORED"  # the end came first and already created it

            if event.type == "CALL_ENDED":
                if call_ended_at is not None:
                    status = "IGNORED"
                else:
                    window = self._settings.result_window_seconds
                    # The window starts when we learn of the end, so pipeline delays never shorten it; it is
                    # computed in the database's clock, the one the expiry and the 'late' check use.
                    ended: Any = await conn.fetchrow(
                        """UPDATE communications SET call_ended_at = $2,
                                  result_deadline = CASE WHEN state = 'NEW'
                                                         THEN now() + make_interval(secs => $3) ELSE result_deadline END
                            WHERE id = $1
                        RETURNING now() + make_interval(secs => $3) AS deadline, clock_timestamp() AS server_time""",
                        comm_id, event.occurred_at, window)
                    deadline = ended["deadline"]
                    data = deadline_data(comm_id, deadline, window, ended["server_time"])
                    if state == "NEW":
                        seq = await queries.enter_call_state(conn, event.operator_id, "WRAP_UP", comm_id, deadline)
                        await self._emit_at(conn, frames, event.operator_id, seq, "CALL_ENDED", data)
                    else:
                        await self._release(conn, frames, event.operator_id, comm_id)
                        if state != "DRAFT":  # DRAFT: closed into rework when the sessions ended; nothing reopens
                            await self._emit(conn, frames, event.operator_id, "CALL_ENDED", data)
            if status == "IGNORED":
                await conn.execute("UPDATE call_events SET outcome = 'IGNORED' WHERE event_id = $1", event.event_id)
        await publish(self._redis, self._settings, frames)
        return Outcome(status, comm_id)

    async def _supersede(self, conn: Any, frames: list[Frame], operator_id: int, previous_id: int) -> None:
        """A new call reached an operator we still have on another call (``previous_id``, still NEW and not
        ended: queries.open_communication tells): that call has ended (an operator takes one call at a time)
        and its end was lost, e.g. the provider restarted and rang the operator before learning they were
        busy. The earlier communication goes to rework, never left NEW forever. (One already in its result
        window keeps its window: the expiry turns it into a draft on time.)"""
        await self.close_to_rework(conn, frames, operator_id, previous_id, reason="SUPERSEDED_BY_NEW_CALL")

    async def _repeated(self, conn: Any, event: CallEvent) -> Outcome:
        """A known event id: the same event again is a duplicate (a re-read, a redelivery); different
        content under the same id is a conflict — never silently dropped: logged and dead-lettered."""
        stored = await conn.fetchval("SELECT payload FROM call_events WHERE event_id = $1", event.event_id)
        if same_event(stored, event):
            return Outcome("DUPLICATE")
        log.error("call event %s conflicts with the stored event of the same id; dead-lettered", event.event_id)
        await call_queries.dead_letter(conn, "call-event", "eventId already used by a different event",
                                       msgspec.json.encode(event))
        return Outcome("CONFLICT")

    # -- the operator's saves -------------------------------------------------------------------------

    async def _locked(self, conn: Any, communication_id: int, operator_id: int, phone: str) -> asyncpg.Record:
        row = await queries.lock_communication(conn, communication_id, operator_id)
        if row is None:  # someone else's or unknown: the same answer, no existence leak
            raise NotFound("No such communication", code="COMMUNICATION_NOT_FOUND", field="communicationId")
        if row["phone"] != phone:
            raise BadRequest("clientPhone does not match the communication", code="PHONE_MISMATCH",
                             field="clientPhone")
        return row

    async def save_draft(self, operator_id: int, communication_id: int, phone: str, details: dict[str, str],
                         draft_version: int | None = None) -> int:
        started = time.perf_counter()
        try:
            version = await self._save_draft(operator_id, communication_id, phone, details, draft_version)
        except AppError:
            SAVES.labels("draft", "refused").inc()
            raise
        SAVES.labels("draft", "ok").inc()
        SAVE_SECONDS.labels("draft").observe(time.perf_counter() - started)
        return version

    async def _save_draft(self, operator_id: int, communication_id: int, phone: str, details: dict[str, str],
                          draft_version: int | None) -> int:
        """Store a draft and return its new version. A save that names a version other than the stored one
        (a late retry of older words, another tab) is refused with the current draft, never written over it;
        one that names none overwrites (the seed's contract)."""
        # One statement, one round trip (issue 16): the checks and both writes happen in the database.
        row = await queries.save_draft(self._pool, communication_id, operator_id, phone, details, draft_version)
        if row is None:  # someone else's or unknown: the same answer, no existence leak
            raise NotFound("No such communication", code="COMMUNICATION_NOT_FOUND", field="communicationId")
        if row["new_version"] is not None:
            return int(row["new_version"])
        if row["phone"] != phone:
            raise BadRequest("clientPhone does not match the communication", code="PHONE_MISMATCH",
                             field="clientPhone")
        if row["state"] == "FIXED":
            raise Conflict("The result is already saved", code="RESULT_ALREADY_FIXED", field="communicationId")
        stored = int(row["draft_version"])
        if row["result_details"] == details:
            return stored  # the stored words again (a retry whose answer was lost): nothing to change
        raise Conflict(f"The draft has changed: version {stored}, not {draft_version}",
                       code="DRAFT_VERSION_CONFLICT", field="draftVersion",
                       data={"draftVersion": stored, "communicationResult": result_of(row["result_details"]) or {}})

    async def save_result(self, operator_id: int, communication_id: int, phone: str,
                          details: dict[str, str]) -> None:
        started = time.perf_counter()
        try:
            late = await again_if_rolled_back(lambda: self._save_result(operator_id, communication_id, phone, details))
        except AppError:
            SAVES.labels("result", "refused").inc()
            raise
        SAVES.labels("result", "ok").inc()
        SAVE_SECONDS.labels("result").observe(time.perf_counter() - started)
        if late is not None:
            WINDOW_OUTCOMES.labels("saved_late" if late else "saved_in_time").inc()

    async def _save_result(self, operator_id: int, communication_id: int, phone: str,
                           details: dict[str, str]) -> bool | None:
        """Whether the result came late; None when it was saved already (a repeated save)."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            # The task before the communication: the order the call events lock them in (no deadlock).
            task_id = await conn.fetchval(
                "SELECT campaign_task_id FROM communications WHERE id = $1 AND operator_id = $2",
                communication_id, operator_id)
            task = await conn.fetchrow(
                """SELECT id, task_state, close_reason, attempts, client_info, phone FROM campaign_tasks
                    WHERE id = $1 FOR UPDATE""", task_id) if task_id is not None else None
            row = await self._locked(conn, communication_id, operator_id, phone)
            if row["state"] == "FIXED":
                if row["result_details"] == details:
                    return None  # the same save repeated (a retry after a lost answer): success
                raise Conflict("The result is already saved and cannot be changed", code="RESULT_ALREADY_FIXED",
                               field="communicationId")
            rules = await rules_queries.task_rules(conn, task["id"]) if task is not None else None
            config = decode(rules["config"]) if rules is not None else None
            # A path outside the campaign's taxonomy is a 400 naming the level, before anything is written.
            outcome = outcome_of(config, details) if config is not None else None
            withdrawn: list[dict[str, Any]] = []
            if config is not None and outcome is not None and task is not None:
                withdrawn = await self._next_step(conn, config, outcome, task, operator_id)
            # Late is decided in the database's clock, the one the deadline was computed in.
            late = await conn.fetchval(
                """UPDATE communications SET state = 'FIXED', result_details = $2, fixed_at = now(), outcome = $3,
                          completed_late = (state = 'DRAFT' OR coalesce(now() > result_deadline, false))
                    WHERE id = $1 RETURNING completed_late""", communication_id, details, outcome)
            await queries.add_version(conn, communication_id, operator_id, "RESULT", details)
            await self._emit(conn, frames, operator_id, "RESULT_SAVED",
                             {"communicationId": communication_id, "completedLate": late})
            if row["call_ended_at"] is not None:
                await self._release(conn, frames, operator_id, communication_id)
            if row["state"] == "DRAFT":
                await queries.clear_rework(conn, operator_id, communication_id)
                await self._emit(conn, frames, operator_id, "REWORK_CHANGED",
                                 {"reworkCount": await queries.rework_count(conn, operator_id)})
        await publish(self._redis, self._settings, frames)
        await rules_service.send_withdrawals(self._redis, self._settings, withdrawn)
        return bool(late)

    async def _next_step(self, conn: Any, config: RulesConfig, outcome: str, task: Any,
                         operator_id: int) -> list[dict[str, Any]]:
        """The result's outcome moves the task on: a recall (NEW again, later, inside calling hours) until
        the campaign's maximum attempts, DONE with the reason, or DONE and the phone on the do-not-call list,
        which withdraws the client's open tasks in other campaigns too (returned: the DELETE commands for those
        already queued at the provider, sent after the commit). A task that left the call's DONE meanwhile
        (re-entered, already moved on) keeps its state."""
        if task["task_state"] != "DONE" or task["close_reason"] is not None:
            await conn.execute("UPDATE campaign_tasks SET last_outcome = $2 WHERE id = $1", task["id"], outcome)
            return []
        info = task["client_info"] or {}
        step = next_step(config, outcome, int(task["attempts"]), datetime.now(UTC),
                         client_zone(config, info.get("timeZone")))
        await conn.execute(
            """UPDATE campaign_tasks SET task_state = $2, task_time = coalesce($3, task_time), close_reason = $4,
                      last_outcome = $5 WHERE id = $1""",
            task["id"], step.state, step.task_time, step.close_reason, outcome)
        if step.do_not_call:
            await rules_queries.put_dnc(conn, task["phone"], None, "CLIENT_REQUEST", "RESULT", operator_id)
            return await rules_service.withdraw_dials(conn, [task["phone"]])
        return []

    # -- the server-held window ----------------------------------------------------------------------

    async def expire_due(self, limit: int = 100) -> int:
        """Turn communications whose window passed into DRAFTs. SKIP LOCKED lets several workers share the
        work; the state check inside the same transaction makes each expiry happen exactly once."""
        frames: list[Frame] = []
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, operator_id, result_details FROM communications
                    WHERE state = 'NEW' AND result_deadline <= now()
                    ORDER BY result_deadline LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)  # communications_deadline_idx
            for row in rows:
                await conn.execute("UPDATE communications SET state = 'DRAFT', expired_at = now() WHERE id = $1",
                                   row["id"])
                await queries.add_version(conn, row["id"], None, "EXPIRED_TO_DRAFT", row["result_details"] or {})
                await self._emit(conn, frames, row["operator_id"], "RESULT_WINDOW_EXPIRED",
                                 {"communicationId": row["id"]})
                await self._emit(conn, frames, row["operator_id"], "REWORK_CHANGED",
                                 {"reworkCount": await queries.rework_count(conn, row["operator_id"])})
                await self._release(conn, frames, row["operator_id"], row["id"])
        if rows:
            WINDOW_OUTCOMES.labels("expired_to_draft").inc(len(rows))
            log.info("result window expired for %d communication(s)", len(rows))
        await publish(self._redis, self._settings, frames)
        return len(rows)

    # -- the operator's sessions ended mid-call ----------------------------------------------------------

    async def close_to_rework(self, conn: Any, frames: list[Frame], operator_id: int, communication_id: int,
                              reason: str = "SESSION_ENDED") -> bool:
        """The operator's last session ended while this communication was open (on the call or inside its
        result window): it goes to their rework list as a DRAFT with whatever draft they saved, as when a
        window expires. The caller frees the operator. A CALL_ENDED arriving later is recorded and reopens
        nothing. Locks the communication before operator_states, in the order the call events use."""
        row = await conn.fetchrow(
            "SELECT id, operator_id, state, result_details FROM communications WHERE id = $1 FOR NO KEY UPDATE",
            communication_id)
        if row is None or row["state"] != "NEW" or row["operator_id"] != operator_id:
            return False
        await conn.execute("UPDATE communications SET state = 'DRAFT', expired_at = now() WHERE id = $1",
                           communication_id)
        await queries.add_version(conn, communication_id, None, "EXPIRED_TO_DRAFT", row["result_details"] or {})
        await self._emit(conn, frames, operator_id, "RESULT_WINDOW_EXPIRED",
                         {"communicationId": communication_id, "reason": reason})
        await self._emit(conn, frames, operator_id, "REWORK_CHANGED",
                         {"reworkCount": await queries.rework_count(conn, operator_id)})
        log.info("communication %s of operator %s closed into rework (%s)", communication_id, operator_id, reason)
        return True
