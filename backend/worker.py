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

from backend.app import configure_logging
from backend.calls.consumer import CallEventConsumer
from backend.campaigns.service import hand_over_due
from backend.core.db import create_pool, create_redis
from backend.core.errors import DEPENDENCY_ERRORS
from backend.events import queries as events
from backend.settings import Settings, load_or_exit
from backend.workstation import queries as workstation_queries
from backend.workstation.service import Workstation

log = logging.getLogger("backend.worker")
EXPIRY_INTERVAL = 0.2


async def expire_forever(workstation: Workstation) -> None:
    while True:
        try:
            while await workstation.expire_due() > 0:
                pass
        except DEPENDENCY_ERRORS as exc:
            log.warning("expiry pass skipped: %s", type(exc).__name__)
            await asyncio.sleep(1)
        except Exception:
            log.exception("expiry pass failed")
            await asyncio.sleep(1)
        await asyncio.sleep(EXPIRY_INTERVAL)


async def prune_forever(settings: Settings, pool: asyncpg.Pool) -> None:
    while True:
        try:
            removed = await events.prune(pool, settings.event_retention_hours)
            if removed:
                log.info("pruned %d operator event(s) older than %dh", removed, settings.event_retention_hours)
        except DEPENDENCY_ERRORS as exc:
            log.warning("pruning skipped: %s", type(exc).__name__)
        await asyncio.sleep(3600)


async def campaigns_forever(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings) -> None:
    """Hand due tasks to telephony; also mark operators whose sessions lapsed OFFLINE."""
    while True:
        try:
            await hand_over_due(pool, redis, settings)
            await workstation_queries.mark_offline_without_sessions(pool)
        except DEPENDENCY_ERRORS as exc:
            log.warning("campaign engine pass skipped: %s", type(exc).__name__)
        except Exception:
            log.exception("campaign engine pass failed")
        await asyncio.sleep(settings.campaign_engine_interval)


async def run(settings: Settings) -> None:
    pool = await create_pool(settings)
    redis = create_redis(settings)
    workstation = Workstation(pool, redis, settings)
    consumer = CallEventConsumer(redis, settings, workstation)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(consumer.run_forever(), name="call-events"),
             asyncio.create_task(expire_forever(workstation), name="expiry"),
             asyncio.create_task(prune_forever(settings, pool), name="prune"),
             asyncio.create_task(campaigns_forever(pool, redis, settings), name="campaigns")]
    log.info("worker started")
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task in done and task.exception():
            log.error("worker task %s died: %r", task.get_name(), task.exception())
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await redis.aclose()
    await pool.close()
    log.info("worker stopped")


def main() -> None:
    settings = load_or_exit(("DATABASE_URL", "REDIS_URL"))
    configure_logging(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
