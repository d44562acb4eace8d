"""The filter cascade (seed 001 §2.6.2): the lead snapshots of every done import go through the cascade of
every campaign whose rules name the import's stream; a lead that passes every filter enters the campaign.

Exactly once, with any number of workers and kill -9 at any moment: a (import, campaign) *run* row is the
durable claim (a lease a dead worker's successor takes over) and cursor (the last line decided). A batch is
read, decided, and then written in ONE transaction — its paths (COPY), its tasks (the TaskSink), its counts and
the new cursor — and only if the run is still ours at the cursor we read. A crash before the commit leaves
nothing; after it, the next holder starts at the new cursor.

A non-ML integration that does not answer (ERROR) for some lead of a batch: the batch is not written; the run
waits (backoff from core.retry) and tries the batch again, ``CASCADE_MAX_ATTEMPTS`` times in all; the last
attempt records those leads as ERROR paths (filter and reason, counted apart from rejections), so an import
never stalls forever and no lead is silently dropped or passed. ``GET .../cascade/runs`` shows the waiting run
with its last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

import asyncpg

from backend.core.retry import backoff
from backend.core.settings import Settings
from backend.integrations.api import Integrations
from backend.rules import external, queries
from backend.rules.config import RulesConfig, decode
from backend.rules.filters import INTERNAL, Batch, Context, Verdict
from backend.rules.hours import client_zone, next_allowed
from backend.rules.sink import Entry, TaskSink
from backend.rules.templates import compile_templates

log = logging.getLogger("backend.rules.cascade")


def client_info_of(row: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The task's client fields (the card's ClientInfo shape), plus what the integrations added."""
    info: dict[str, Any] = {"applicationId": str(row["application_no"])}
    for key, column in (("firstName", "first_name"), ("lastName", "last_name"), ("middleName", "middle_name"),
                        ("citizenship", "citizenship")):
        if row[column]:
            info[key] = row[column]
    if row["birth_date"] is not None:
        info["birthDate"] = row["birth_date"].isoformat()
    if row["client_type"]:  # the client segment reports group by (pioneer | repeater)
        info["clientType"] = row["client_type"]
    if extra:
        products = extra.get("availableProducts")
        if products is not None:
            info["availableProducts"] = products
        data = {k: v for k, v in extra.items() if k != "availableProducts"}
        if data:
            info["clientData"] = data
            if isinstance(data.get("timeZone"), str):
                info["timeZone"] = data["timeZone"]
    return info


class Deferred(Exception):
    """A batch met an integration error it may not decide on: retry the run later."""


class Cascade:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, sink: TaskSink,
                 integrations: Integrations | None, owner: str | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._sink = sink
        self._integrations = integrations
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def tick(self) -> int:
        """Discover new runs, then work through every run whose time has come; the leads decided."""
        s = self._settings
        streams = list(s.cascade_streams) or None
        await queries.discover_runs(self._pool, s.cascade_lookback_hours, streams)
        total = 0
        while (run := await queries.claim_run(self._pool, self.owner, s.cascade_lease_seconds, streams)) is not None:
            decided, deferred = await self.process(run)
            total += decided
            if deferred:
                break  # a service is failing: the waiting run (and the rest) get the next tick, not a busy loop
        return total

    async def process(self, run: Any) -> tuple[int, bool]:
        """Work one claimed run through to its end; (leads decided, whether it had to wait for a service).
        The snapshots are read through one cursor in a read-only transaction of their own (a done import's
        rows never change); each batch is written in its own transaction on another connection."""
        import_id, campaign_id = run["import_id"], run["campaign_id"]
        version = await queries.version_by_id(self._pool, run["rules_version_id"])
        assert version is not None
        config = decode(version["config"])
        progress = [0]
        try:
            async with self._pool.acquire() as reader, reader.transaction(isolation="repeatable_read",
                                                                          readonly=True):
                await self._batches(run, version["id"], config, reader, progress)
            return progress[0], False
        except Deferred as exc:
            failed_before = 0 if progress[0] else int(run["attempts"])  # a written batch reset the series
            delay = backoff(failed_before + 1) * self._settings.cascade_retry_scale
            log.warning("cascade run import %s campaign %s: %s; retrying in %.1fs", import_id, campaign_id, exc, delay)
            await queries.defer_run(self._pool, import_id, campaign_id, self.owner, delay, str(exc))
            return progress[0], True
        except BaseException:
            await queries.release_run(self._pool, import_id, campaign_id, self.owner)
            raise

    async def _batches(self, run: Any, version_id: int, config: RulesConfig, reader: Any, progress: list[int]) -> None:
        import_id, campaign_id = run["import_id"], run["campaign_id"]
        cursor, attempts = int(run["cursor_line"]), int(run["attempts"])
        size = self._settings.cascade_batch_size
        snapshots = await queries.snapshot_cursor(reader, import_id, cursor)
        # Up to CASCADE_PIPELINE batches are being decided at once (integration calls overlap; each is written
        # as soon as it and every batch before it are decided): writes stay in line order, each checking the
        # cursor the previous one left, so a client re-entering in a later batch finds the earlier task.
        depth = self._settings.cascade_pipeline
        pending: deque[tuple[list[Any], bool, asyncio.Task[Batch | None]]] = deque()
        exhausted = False
        last_attempt = attempts + 1 >= self._settings.cascade_max_attempts
        try:
            while True:
                while len(pending) < depth and not exhausted:
                    rows = await snapshots.fetch(size)
                    exhausted = len(rows) < size
                    pending.append((rows, exhausted, asyncio.create_task(
                        self._decide_or_none(rows, config, campaign_id, last_attempt))))
                rows, last, deciding = pending.popleft()
                batch = await deciding
                if not await self._write(import_id, campaign_id, version_id, config, cursor, rows, batch, last):
                    log.warning("cascade run %s/%s: lost its lease to another worker", import_id, campaign_id)
                    return
                progress[0] += len(rows)
                last_attempt = self._settings.cascade_max_attempts <= 1  # a written batch ends a failure series
                if last:
                    log.info("cascade run import %s campaign %s done", import_id, campaign_id)
                    return
                cursor = int(rows[-1]["line_no"])
        finally:
            for _, _, task in pending:
                task.cancel()
            for _, _, task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _decide_or_none(self, rows: list[Any], config: RulesConfig, campaign_id: int,
                              last_attempt: bool) -> Batch | None:
        return await self.decide(rows, config, campaign_id, last_attempt=last_attempt) if rows else None

    async def decide(self, rows: list[Any], config: RulesConfig, campaign_id: int, *,
                     last_attempt: bool = True) -> Batch:
        """Run the cascade over one batch: each filter in order over the leads still in the running."""
        batch = Batch(rows)
        phones = [r["phone"] for r in rows]
        order = config.effective_order()
        dnc = await queries.dnc_active(self._pool, phones) if "DO_NOT_CALL" in order else {}
        booked = await queries.booked_elsewhere(self._pool, phones, campaign_id) if "BOOKED" in order else {}
        ctx = Context(config, datetime.now(config.zone()).date(), compile_templates(config.phone_templates),
                      dnc, booked)
        for name in order:
            alive = batch.alive()
            if not alive:
                break
            internal = INTERNAL.get(name)
            if internal is not None:
                internal(batch, ctx, alive)
                continue
            await external.run(name, batch, alive, config, self._integrations)
            if batch.errors:
                if not last_attempt:
                    name_, reason = next(iter(batch.errors.values()))
                    raise Deferred(f"{len(batch.errors)} lead(s) without an answer from {name_} ({reason})")
                for i, (filter_name, reason) in batch.errors.items():
                    batch.verdicts[i] = Verdict("ERROR", filter_name, reason)
                batch.errors.clear()
        return batch

    async def _write(self, import_id: int, campaign_id: int, version_id: int, config: RulesConfig, cursor: int,
                     rows: list[Any], batch: Batch | None, last: bool) -> bool:
        commands: list[dict[str, Any]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            if not await queries.lock_own_run(conn, import_id, campaign_id, self.owner, cursor):
                return False
            passed = rejected = errored = 0
            if batch is not None:
                now = datetime.now(UTC)
                # One task per phone and batch: a client on two lines enters once, as the later line.
                by_phone: dict[str, int] = {}
                for i, verdict in enumerate(batch.verdicts):
                    if verdict is None:
                        by_phone[rows[i]["phone"]] = i
                entries = []
                first_moment: dict[object, datetime] = {}  # per time zone: the batch shares one "now"
                for phone, i in by_phone.items():
                    info = client_info_of(rows[i], batch.enrichment.get(i))
                    zone_name = info.get("timeZone")
                    if zone_name not in first_moment:
                        first_moment[zone_name] = next_allowed(config, now, client_zone(config, zone_name))
                    entries.append(Entry(phone=phone, client_info=info, application_no=rows[i]["application_no"],
                                         task_time=first_moment[zone_name]))
                task_ids, commands = await self._sink.enter_many(
                    conn, campaign_id, entries, rules_version_id=version_id, priority=config.priority)
                task_of = {e.phone: t for e, t in zip(entries, task_ids, strict=True)}
                counts: Counter[tuple[str, str]] = Counter()
                records: list[tuple[Any, ...]] = []
                for i, row in enumerate(rows):
                    verdict = batch.verdicts[i]
                    if verdict is None:
                        passed += 1
                        counts["PASSED", "PASSED"] += 1
                        records.append((import_id, campaign_id, row["line_no"], row["application_no"], row["phone"],
                                        "PASSED", None, None, None, version_id, task_of[row["phone"]]))
                    else:
                        if verdict.outcome == "ERROR":
                            errored += 1
                        else:
                            rejected += 1
                        counts[verdict.filter, verdict.outcome] += 1
                        records.append((import_id, campaign_id, row["line_no"], row["application_no"], row["phone"],
                                        verdict.outcome, verdict.filter, verdict.reason, verdict.value, version_id,
                                        None))
                await queries.copy_paths(conn, records)
                await queries.add_counts(conn, import_id, campaign_id, dict(counts))
            await queries.advance_run(conn, import_id, campaign_id,
                                      cursor_line=int(rows[-1]["line_no"]) if rows else cursor,
                                      passed=passed, rejected=rejected, errored=errored, finished=last,
                                      lease_seconds=self._settings.cascade_lease_seconds)
        await self._sink.send(commands)
        return True
