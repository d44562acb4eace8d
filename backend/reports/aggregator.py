"""The report aggregates, maintained incrementally by one worker at a time: ``report_hourly`` and its two
rollups, ``report_campaign_hourly`` (no operators) and ``report_operator_daily`` (per operator and UTC day).

Each pass reads the communications changed since the watermark (less REPORTS_REFRESH_MARGIN_SECONDS: a
transaction that began before the last pass but committed after it carries an older updated_at), takes the
(operator, UTC hour) buckets they fall in, and recomputes those buckets from the communications, then the
rollups' buckets they are in from report_hourly — delete and insert in one transaction, so a pass repeated or
overlapping another's changes nothing. A big backlog (the
backlog after a long stop) goes in slices of REPORTS_REFRESH_BATCH changed communications; the very first pass
(no watermark yet: a new installation, or the migration on an existing table) builds every bucket in one
statement instead, and the rollups in one statement each; a pass finding report_hourly built but not its
rollups (an installation migrated to 0023) rolls it up once.

Why not a materialized view refreshed on a schedule: README "Reports" has the measurement (bench/reports.py):
a refresh re-reads every communication, an incremental pass only the changed hours."""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis

from backend.core.leader import LeaderLock
from backend.core.settings import Settings
from backend.reports import queries

log = logging.getLogger("backend.reports.aggregator")
BUCKETS_PER_TRANSACTION = 500


async def refresh(pool: asyncpg.Pool, *, margin_seconds: float = 300, batch: int = 50_000) -> int:
    """Bring the aggregate up to date; the buckets recomputed. Safe to run concurrently with itself (each
    bucket's recompute is a delete and insert of its own sums) though the worker runs it under a leader lock."""
    total = 0
    async with pool.acquire() as conn:
        mark = await queries.watermark(conn)
        now = await conn.fetchval("SELECT now()")
    if mark is None:  # the first pass: everything at once, then changes from the start of this pass
        async with pool.acquire() as conn, conn.transaction():
            # One builder even if a slow build outlived the leader lock: the next waits, then finds it done.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('report_hourly build'))",
                               timeout=queries.REBUILD_TIMEOUT)
            if await queries.watermark(conn) is None:
                await queries.rebuild_all(conn)
                await queries.set_watermark(conn, now)
                await queries.set_rollups_built(conn)
                log.info("report aggregate built from every communication")
            mark = await queries.watermark(conn) or now
        total = 1
    else:
        async with pool.acquire() as conn:
            built = await queries.rollups_built(conn)
        if not built:  # report_hourly maintained before migration 0023: roll it up once, then go on as usual
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('report_hourly build'))",
                                   timeout=queries.REBUILD_TIMEOUT)
                # The bucket lock too: no pass's recompute runs between the roll-up and the flag.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('report buckets'))",
                                   timeout=queries.REBUILD_TIMEOUT)
                if not await queries.rollups_built(conn):
                    await queries.rebuild_rollups(conn)
                    await queries.set_rollups_built(conn)
                    log.info("report rollups built from report_hourly")
            total = 1
    # Then what changed since (during the build too: its watermark is when it began).
    since = mark - timedelta(seconds=margin_seconds)
    while True:
        async with pool.acquire() as conn:
            # Ties at the slice's bound (one transaction's rows share updated_at) all fall inside it.
            upper = await queries.changed_upper_bound(conn, since, batch)
            buckets = await queries.dirty_buckets(conn, since, upper)
        for i in range(0, len(buckets), BUCKETS_PER_TRANSACTION):
            part = buckets[i:i + BUCKETS_PER_TRANSACTION]
            async with pool.acquire() as conn, conn.transaction():
                await queries.recompute(conn, [b["operator_id"] for b in part], [b["hour"] for b in part])
        total += len(buckets)
        async with pool.acquire() as conn:
            # Up to the slice's last change, or (all read) up to the start of this pass.
            await queries.set_watermark(conn, upper if upper is not None else now)
        if upper is None:
            return total
        since = upper


class Aggregator:
    """The worker's loop body: refresh under a leader lock every REPORTS_REFRESH_SECONDS."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self.lock = LeaderLock(redis, settings.redis_key_prefix + "reports:aggregate:leader",
                               max(3 * settings.reports_refresh_seconds, 30.0))

    async def tick(self) -> None:
        if not await self.lock.hold():
            return
        n = await refresh(self._pool, margin_seconds=self._settings.reports_refresh_margin_seconds,
                          batch=self._settings.reports_refresh_batch)
        if n:
            log.debug("report aggregate: %d bucket(s) recomputed", n)
