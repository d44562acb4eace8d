"""The `worker` process: consumes call events from the Redis Stream, expires result windows on time,
computes the supervisors' floor (in a child process of its own, ``supervision.process``, so that its CPU and
garbage stay off the call events' loop; one worker's child at a time, under a leader lock), keeps operator presence
(AWAY without a socket, OFFLINE once sessions lapsed), imports lead files from the
stream folders and uploads, and prunes what is past its retention. Several workers may run: the consumer
group and SKIP LOCKED share the work without doing anything twice; a lead file is imported under a
PostgreSQL advisory lock on its path; pruning runs on one of them at a time, under a leader lock in Redis.
It also runs the campaigns' filter cascade over done imports (a leased run per import and campaign, see
rules/cascade.py) and, once a day under its own leader lock, the stale-client job (rules/stale.py). It
delivers the integration exchange's outcome pushes from their outbox (exchange/delivery.py: leased rows, so
workers share them and a dead worker's are taken over); keeps the report aggregate up to date and sends the
daily summary (reports/, each under a leader lock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
import uvloop

from backend.auth import queries as auth_queries
from backend.calls import queries as call_queries
from backend.calls import streams
from backend.calls.consumer import CallEventConsumer
from backend.campaigns.service import CampaignEntry, hand_over_due
from backend.core.db import create_pool, create_redis
from backend.core.leader import LeaderLock
from backend.core.logging import configure_logging
from backend.core.retry import cancel_and_wait, every
from backend.core.settings import Settings, load_or_exit
from backend.events import queries as events
from backend.exchange.delivery import Deliveries
from backend.integrations.api import Integrations
from backend.leads.service import LeadIntake
from backend.reports.aggregator import Aggregator
from backend.reports.notify import notifier_of
from backend.reports.summary import DailySummary
from backend.rules.cascade import Cascade
from backend.rules.stale import StaleClients
from backend.supervision.process import FloorProcess
from backend.workstation import queries as workstation_queries
from backend.workstation.presence import Presence
from backend.workstation.service import Workstation

log = logging.getLogger("backend.worker")
EXPIRY_INTERVAL = 0.2
PRESENCE_INTERVAL = 0.5
PRUNE_BATCH = 5000


async def expire_pass(workstation: Workstation) -> None:
    while await workstation.expire_due() > 0:
        pass


async def presence_pass(presence: Presence) -> None:
    """No socket for the grace period: AWAY; every session ended without a logout: OFFLINE (an open
    communication goes to rework)."""
    await presence.away_pass()
    await presence.offline_pass()


async def campaigns_pass(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
    """Hand due tasks to telephony."""
    await hand_over_due(pool, redis, settings)


class Housekeeping:
    """Prunes, on one worker at a time: ended sessions, call events, operator events (they hold client
    cards), and the Redis Streams' old entries. The worker that holds the leader lock renews it at every
    tick and prunes every ``HOUSEKEEPING_INTERVAL_SECONDS``; if it dies, the lock expires after
    ``HOUSEKEEPING_LOCK_SECONDS`` and another worker takes over."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self.lock = LeaderLock(redis, settings.redis_key_prefix + "housekeeping:leader",
                               settings.housekeeping_lock_seconds)
        self.tick_seconds = min(settings.housekeeping_interval_seconds, settings.housekeeping_lock_seconds / 3)
        self._last_pass: float | None = None
        self._leading: bool | None = None

    async def tick(self) -> None:
        leading = await self.lock.hold()
        if leading != self._leading:
            log.info("housekeeping: %s (%s)", "leading" if leading else "another worker leads", self.lock.token)
            self._leading = leading
        if not leading:
            self._last_pass = None
            return
        interval = self._settings.housekeeping_interval_seconds
        if self._last_pass is not None and time.monotonic() - self._last_pass < interval:
            return
        await self.prune()
        self._last_pass = time.monotonic()

    async def _batches(self, one: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while True:
            removed = await one()
            total += removed
            if removed < PRUNE_BATCH or not await self.lock.hold():
                return total

    async def prune(self) -> dict[str, int]:
        s, pool = self._settings, self._pool
        counts = {
            "sessions": await self._batches(
                lambda: auth_queries.prune_sessions(pool, s.session_retention_days, PRUNE_BATCH)),
            "callEvents": await self._batches(
                lambda: workstation_queries.prune_call_events(pool, s.call_event_retention_days, PRUNE_BATCH)),
            "operatorEvents": await self._batches(
                lambda: events.prune(pool, s.event_retention_hours, PRUNE_BATCH)),
        }
        seconds, micros = await self._redis.time()  # entry ids are in Redis's clock
        now_ms = seconds * 1000 + micros // 1000
        counts["streamEntries"] = sum([
            await streams.trim_before(self._redis, name, now_ms - s.stream_retention_hours * 3_600_000)
            for name in streams.work_streams(s)])
        counts["deadLetters"] = await self._batches(
            lambda: call_queries.prune_dead_letters(pool, s.dead_letter_retention_days, PRUNE_BATCH))
        log.info("housekeeping pass by %s: pruned %s", self.lock.token,
                 " ".join(f"{k}={v}" for k, v in counts.items()))
        return counts


async def run(settings: Settings) -> None:
    pool = await create_pool(settings)
    redis = create_redis(settings)
    workstation = Workstation(pool, redis, settings)
    presence = Presence(pool, redis, settings, workstation)
    housekeeping = Housekeeping(pool, redis, settings)
    consumer = CallEventConsumer(redis, pool, settings, workstation)
    leads = LeadIntake(pool, settings)
    floor = FloorProcess()
    entry = CampaignEntry(redis, settings)
    integrations = await Integrations.start(settings) if settings.integrations_url else None
    if integrations is None:
        log.info("integration filters answer ERROR: INTEGRATIONS_URL is not set")
    cascade = Cascade(pool, settings, entry, integrations)
    stale = StaleClients(pool, redis, settings, entry)
    if settings.worker_metrics_port:
        serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
    deliveries = Deliveries(pool, settings)
    aggregator = Aggregator(pool, redis, settings)
    summary = DailySummary(pool, redis, settings, notifier_of(settings))
    if leads.root is None:
        log.info("lead intake from folders is off: LEADS_DIR is not set")
    else:
        log.info("lead intake: watching %s (%s)", leads.root,
                 ", ".join(f"{s.name}={s.folder}/" for s in leads.streams.values()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(consumer.run_forever(), name="call-events"),
             asyncio.create_task(every("expiry", EXPIRY_INTERVAL, lambda: expire_pass(workstation)), name="expiry"),
             asyncio.create_task(every("presence", PRESENCE_INTERVAL, lambda: presence_pass(presence)),
                                 name="presence"),
             asyncio.create_task(every("housekeeping", housekeeping.tick_seconds, housekeeping.tick),
                                 name="housekeeping"),
             asyncio.create_task(every("campaigns", settings.campaign_engine_interval,
                                       lambda: campaigns_pass(pool, redis, settings)), name="campaigns"),
             asyncio.create_task(every("leads", settings.leads_poll_seconds, leads.tick), name="leads"),
             asyncio.create_task(every("cascade", settings.cascade_poll_seconds, cascade.tick), name="cascade"),
             asyncio.create_task(every("stale-clients", settings.stale_lock_seconds / 3, stale.tick),
                                 name="stale-clients"),
             asyncio.create_task(every("exchange", settings.exchange_poll_seconds, deliveries.tick),
                                 name="exchange"),
             asyncio.create_task(every("report-aggregate", settings.reports_refresh_seconds, aggregator.tick),
                                 name="report-aggregate"),
             asyncio.create_task(every("daily-summary", 20.0, summary.tick), name="daily-summary"),
             asyncio.create_task(floor.run_forever(), name="floor")]
    log.info("worker started")
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    died = [t for t in tasks if t in done]
    for task in died:
        log.error("worker task %s died: %r", task.get_name(), task.exception())
    await cancel_and_wait(*tasks)
    with contextlib.suppress(Exception):
        await housekeeping.lock.release()  # a successor need not wait for the lock to expire
    with contextlib.suppress(Exception):
        await stale.lock.release()
    for lock in (aggregator.lock, summary.lock):
        with contextlib.suppress(Exception):
            await lock.release()
    if integrations is not None:
        await integrations.close()
    await deliveries.close()
    await redis.aclose()
    await pool.close()
    log.info("worker stopped")
    if died:
        raise SystemExit(1)  # the process manager restarts us; a dead loop must never look like a clean stop


def serve_metrics(host: str, port: int) -> None:
    """/metrics of this worker on its own port (prometheus_client's server, in a thread of its own: the event
    loop does nothing for it); the same text as backend.core.metrics.exposition."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, port)


def main() -> None:
    settings = load_or_exit(("DATABASE_URL", "REDIS_URL"))
    configure_logging(settings.log_level)
    # uvloop, as web and telephony: the call-event consumer's CPU is half event-loop overhead (py-spy), most of
    # it asyncpg and Redis round trips, which uvloop's transports serve in C.
    uvloop.run(run(settings))


if __name__ == "__main__":
    main()
