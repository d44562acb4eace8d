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
import logging
import os
import socket
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from backend.core.metrics import CASCADE_DECISIONS
from backend.core.retry import backoff, cancel_and_wait
from backend.core.settings import Settings
from backend.integrations.api import Integrations
from backend.rules import external, queries
from backend.rules.config import RulesConfig, decode
from backend.rules.filters import INTERNAL, Batch, Context, Verdict
from backend.rules.hours import client_zone, next_allowed
from backend.rules.sink import Entry, Prepared, TaskSink
from backend.rules.templates import compile_templates

log = logging.getLogger("backend.rules.cascade")
# Leads per chunk of a batch going through the integration filters when the services take one lead per
# request (INTEGRATION_BATCH_SIZE 0).
CHUNK_PER_LEAD_REQUESTS = 200


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


@dataclass
class Decided:
    """A decided batch, ready to write."""

    tasks: Prepared
    records: list[tuple[Any, ...]]  # the paths, in line order (COPY into cascade_paths)
    passed_at: list[tuple[int, int]]  # (path record, entry) of each PASSED lead: its task id comes at the write
    counts: dict[tuple[str, str], int]
    passed: int
    rejected: int
    errored: int


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
        pending: deque[tuple[list[Any], bool, asyncio.Task[Decided | None]]] = deque()
        exhausted = False
        last_attempt = attempts + 1 >= self._settings.cascade_max_attempts
        try:
            while True:
                while len(pending) < depth and not exhausted:
                    rows = await snapshots.fetch(size)
                    exhausted = len(rows) < size
                    pending.append((rows, exhausted, asyncio.create_task(
                        self._decide_or_none(rows, config, import_id, campaign_id, version_id, last_attempt))))
                rows, last, deciding = pending.popleft()
                decided = await deciding
                if not await self._write(import_id, campaign_id, cursor, rows, decided, last):
                    log.warning("cascade run %s/%s: lost its lease to another worker", import_id, campaign_id)
                    return
                progress[0] += len(rows)
                last_attempt = self._settings.cascade_max_attempts <= 1  # a written batch ends a failure series
                if last:
                    log.info("cascade run import %s campaign %s done", import_id, campaign_id)
                    return
                cursor = int(rows[-1]["line_no"])
        finally:
            await cancel_and_wait(*(task for _, _, task in pending))

    async def _decide_or_none(self, rows: list[Any], config: RulesConfig, import_id: int, campaign_id: int,
                              version_id: int, last_attempt: bool) -> Decided | None:
        if not rows:
            return None
        batch = await self.decide(rows, config, campaign_id, last_attempt=last_attempt)
        return self._prepare(rows, batch, config, import_id, campaign_id, version_id)

    async def decide(self, rows: list[Any], config: RulesConfig, campaign_id: int, *,
                     last_attempt: bool = True) -> Batch:
        """Run the cascade over one batch: each filter in order over the leads still in the running. The
        filters up to the first integration filter go over the whole batch at once; from there the leads go
        on in chunks of one integration request each, every chunk through the rest of the filters on its own
        and all chunks at once (the services' concurrency bounds the requests in flight), so a batch takes
        about one request's time per filter instead of waiting at every filter for its slowest request.
        Each lead still meets the filters in the configured order and stops at its first failure."""
        batch = Batch(rows)
        phones = [r["phone"] for r in rows]
        order = config.effective_order()
        dnc = await queries.dnc_active(self._pool, phones) if "DO_NOT_CALL" in order else {}
        booked = await queries.booked_elsewhere(self._pool, phones, campaign_id) if "BOOKED" in order else {}
        ctx = Context(config, datetime.now(config.zone()).date(), compile_templates(config.phone_templates),
                      dnc, booked)
        first_external = next((k for k, name in enumerate(order) if name not in INTERNAL), len(order))
        await self._filters(batch, ctx, order[:first_external], batch.alive(), last_attempt)
        rest = order[first_external:]
        alive = batch.alive()
        if rest and alive:
            size = self._settings.integration_batch_size or CHUNK_PER_LEAD_REQUESTS
            chunks = [alive[k:k + size] for k in range(0, len(alive), size)]
            if len(chunks) == 1:
                await self._filters(batch, ctx, rest, chunks[0], last_attempt)
            else:
                try:
                    async with asyncio.TaskGroup() as group:  # one chunk deferring the batch cancels the others
                        for chunk in chunks:
                            group.create_task(self._filters(batch, ctx, rest, chunk, last_attempt))
                except ExceptionGroup as failed:
                    raise failed.exceptions[0] from None
        return batch

    async def _filters(self, batch: Batch, ctx: Context, names: list[str], leads: list[int],
                       last_attempt: bool) -> None:
        """``names`` in order over ``leads`` (indices of ``batch``), each filter over those still alive."""
        verdicts = batch.verdicts
        for name in names:
            alive = [i for i in leads if verdicts[i] is None]
            if not alive:
                return
            internal = INTERNAL.get(name)
            if internal is not None:
                internal(batch, ctx, alive)
                await asyncio.sleep(0)  # let a finished write's next statement go out between two filters
                continue
            await external.run(name, batch, alive, ctx.config, self._integrations)
            errors = [i for i in alive if i in batch.errors]
            if errors:
                if not last_attempt:
                    name_, reason = batch.errors[errors[0]]
                    raise Deferred(f"{len(errors)} lead(s) without an answer from {name_} ({reason})")
                for i in errors:
                    filter_name, reason = batch.errors.pop(i)
                    verdicts[i] = Verdict("ERROR", filter_name, reason)

    def _prepare(self, rows: list[Any], batch: Batch, config: RulesConfig, import_id: int, campaign_id: int,
                 version_id: int) -> Decided:
        """What a decided batch writes, made before its transaction (while earlier batches are written): the
        passing leads' tasks encoded by the sink, the paths (PASSED ones get their task id at the write), the
        counts."""
        now = datetime.now(UTC)
        # One task per phone and batch: a client on two lines enters once, as the later line.
        by_phone: dict[str, int] = {}
        for i, verdict in enumerate(batch.verdicts):
            if verdict is None:
                by_phone[rows[i]["phone"]] = i
        entries: list[Entry] = []
        entry_of: dict[str, int] = {}
        first_moment: dict[object, datetime] = {}  # per time zone: the batch shares one "now"
        for phone, i in by_phone.items():
            info = client_info_of(rows[i], batch.enrichment.get(i))
            zone_name = info.get("timeZone")
            if zone_name not in first_moment:
                first_moment[zone_name] = next_allowed(config, now, client_zone(config, zone_name))
            entry_of[phone] = len(entries)
            entries.append(Entry(phone=phone, client_info=info, application_no=rows[i]["application_no"],
                                 task_time=first_moment[zone_name]))
        tasks = self._sink.prepare(campaign_id, entries, rules_version_id=version_id, priority=config.priority)
        counts: Counter[tuple[str, str]] = Counter()
        records: list[tuple[Any, ...]] = []
        passed_at: list[tuple[int, int]] = []  # (record, entry) of each PASSED path
        passed = rejected = errored = 0
        for i, row in enumerate(rows):
            verdict = batch.verdicts[i]
            if verdict is None:
                passed += 1
                counts["PASSED", "PASSED"] += 1
                passed_at.append((i, entry_of[row["phone"]]))
                records.append((import_id, campaign_id, row["line_no"], row["application_no"], row["phone"],
                                "PASSED", None, None, None, version_id, None))
            else:
                if verdict.outcome == "ERROR":
                    errored += 1
                else:
                    rejected += 1
                counts[verdict.filter, verdict.outcome] += 1
                records.append((import_id, campaign_id, row["line_no"], row["application_no"], row["phone"],
                                verdict.outcome, verdict.filter, verdict.reason, verdict.value, version_id, None))
        return Decided(tasks, records, passed_at, dict(counts), passed, rejected, errored)

    async def _write(self, import_id: int, campaign_id: int, cursor: int, rows: list[Any], decided: Decided | None,
                     last: bool) -> bool:
        commands: list[dict[str, Any]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            if not await queries.lock_own_run(conn, import_id, campaign_id, self.owner, cursor):
                return False
            passed = rejected = errored = 0
            if decided is not None:
                task_ids, commands = await self._sink.enter(conn, decided.tasks)
                records = decided.records
                for at, entry in decided.passed_at:
                    records[at] = (*records[at][:-1], task_ids[entry])
                await queries.copy_paths(conn, records)
                await queries.add_counts(conn, import_id, campaign_id, decided.counts)
                passed, rejected, errored = decided.passed, decided.rejected, decided.errored
                for (decision, outcome), n in decided.counts.items():
                    CASCADE_DECISIONS.labels("PASSED" if decision == "PASSED" else f"{outcome}:{decision}").inc(n)
            await queries.advance_run(conn, import_id, campaign_id,
                                      cursor_line=int(rows[-1]["line_no"]) if rows else cursor,
                                      passed=passed, rejected=rejected, errored=errored, finished=last,
                                      lease_seconds=self._settings.cascade_lease_seconds)
        await self._sink.send(commands)
        return True
