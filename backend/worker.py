"""The `worker` process: consumes call events from the Redis Stream, expires result windows on time,
and prunes old operator events. Several workers may run: the consumer group and SKIP LOCKED share the
work without doing anything twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg
import redis.asyncio as aioredis

from backend.calls.consumer import CallEventConsumer
from backend.campaigns.service import hand_over_due
from backend.core.db import create_pool, create_redis
from backend.core.logging import configure_logging
from backend.core.retry import every
from backend.core.settings import Settings, load_or_exit
from backend.events import queries as events
from backend.workstation import queries as workstation_queries
from backend.workstation.service import Workstation

log = logging.getLogger("backend.worker")
EXPIRY_INTERVAL = 0.2


async def expire_pass(workstation: Workstation) -> None:
    while await workstation.expire_due() > 0:
        pass


async def prune_pass(settings: Settings, pool: asyncpg.Pool) -> None:
    removed = await events.prune(pool, settings.event_retention_hours)
    if removed:
        log.info("pruned %d operator event(s) older than %dh", removed, settings.event_retention_hours)


async def campaigns_pass(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
    """Hand due tasks to telephony; also mark operators whose sessions lapsed OFFLINE."""
    await hand_over_due(pool, redis, settings)
    await workstation_queries.mark_offline_without_sessions(pool)


async def run(settings: Settings) -> None:
    pool = await create_pool(settings)
    redis = create_redis(settings)
    workstation = Workstation(pool, redis, settings)
    consumer = CallEventConsumer(redis, pool, settings, workstation)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(consumer.run_forever(), name="call-events"),
             asyncio.create_task(every("expiry", EXPIRY_INTERVAL, lambda: expire_pass(workstation)), name="expiry"),
             asyncio.create_task(every("prune", 3600, lambda: prune_pass(settings, pool)), name="prune"),
             asyncio.create_task(every("campaigns", settings.campaign_engine_interval,
                                       lambda: campaigns_pass(pool, redis, settings)), name="campaigns")]
    log.info("worker started")
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    died = [t for t in tasks if t in done]
    for task in died:
        log.error("worker task %s died: %r", task.get_name(), task.exception())
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await redis.aclose()
    await pool.close()
    log.info("worker stopped")
    if died:
        raise SystemExit(1)  # the process manager restarts us; a dead loop must never look like a clean stop


def main() -> None:
    settings = load_or_exit(("DATABASE_URL", "REDIS_URL"))
    configure_logging(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
