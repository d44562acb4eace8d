"""Stale clients (seed 004): once a day, at STALE_RUN_AT, one worker (a leader lock in Redis) finds applications
that have stayed STALE_DAYS in one of STALE_STATUSES since their last significant change (their latest lead
snapshot) and gives each a task in STALE_CAMPAIGN_ID.

Never twice for the same status episode: the episode (application, status, the change time it began at) is
inserted under a unique key in the same transaction as the task, so a second run, a second worker or a crash
and rerun creates nothing again — the key, not a check-then-insert, decides. A new significant change starts a
new episode (the clock starts again, as the seed's wizard-status change does)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import redis.asyncio as aioredis

from backend.core.leader import LeaderLock
from backend.core.settings import Settings
from backend.rules import queries
from backend.rules.config import decode
from backend.rules.hours import next_allowed
from backend.rules.sink import Entry, TaskSink

log = logging.getLogger("backend.rules.stale")
PAGE = 2000


class StaleClients:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, sink: TaskSink) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._sink = sink
        self.lock = LeaderLock(redis, settings.redis_key_prefix + "stale:leader", settings.stale_lock_seconds)
        self._last_key = settings.redis_key_prefix + "stale:last-run"
        self._zone = ZoneInfo(settings.operator_timezone)

    async def tick(self) -> None:
        """Run the job once a day after STALE_RUN_AT, on the worker holding the lock (the day it ran is kept in
        Redis; were it lost, a rerun is harmless)."""
        if not self._settings.stale_campaign_id or not await self.lock.hold():
            return
        now = datetime.now(self._zone)
        if now.time() < time.fromisoformat(self._settings.stale_run_at):
            return
        today = now.date().isoformat()
        last = await self._redis.get(self._last_key)
        if (last.decode() if isinstance(last, bytes) else last) == today:
            return
        await self.run()
        await self._redis.set(self._last_key, today, ex=3 * 86400)

    async def run(self) -> int:
        """One pass over every stale application; the tasks created."""
        s = self._settings
        campaign_id = s.stale_campaign_id
        version = await queries.latest_version(self._pool, campaign_id)
        config = decode(version["config"]) if version is not None else None
        created = 0
        while True:
            rows = await queries.stale_candidates(self._pool, list(s.stale_statuses), s.stale_days, PAGE)
            if not rows:
                break
            now = datetime.now(UTC)
            task_time = next_allowed(config, now) if config is not None else now
            commands: list[dict[str, Any]] = []
            async with self._pool.acquire() as conn, conn.transaction():
                episodes = [(r["application_no"], r["application_status"], r["changed_at"]) for r in rows]
                fresh = await queries.claim_episodes(conn, campaign_id, episodes)
                by_phone: dict[str, asyncpg.Record] = {}
                for r in rows:
                    if r["application_no"] in fresh:
                        by_phone[r["phone"]] = r
                entries = [Entry(phone=phone, task_time=task_time, application_no=r["application_no"], client_info={
                    k: v for k, v in {"applicationId": str(r["application_no"]), "firstName": r["first_name"],
                                      "lastName": r["last_name"], "middleName": r["middle_name"],
                                      "citizenship": r["citizenship"], "staleStatus": r["application_status"],
                                      "birthDate": r["birth_date"].isoformat() if r["birth_date"] else None,
                                      }.items() if v}) for phone, r in by_phone.items()]
                task_ids, commands = await self._sink.enter_many(
                    conn, campaign_id, entries, rules_version_id=version["id"] if version else None,
                    priority=config.priority if config else 0)
                task_of = {e.phone: t for e, t in zip(entries, task_ids, strict=True)}
                claimed = [(r["application_no"], r["application_status"], r["changed_at"]) for r in rows
                           if r["application_no"] in fresh]
                await queries.set_episode_tasks(conn, claimed, [
                    task_of[r["phone"]] for r in rows if r["application_no"] in fresh])
            await self._sink.send(commands)
            created += len(task_ids)
            if len(rows) < PAGE:
                break
        if created:
            log.info("stale clients: %d task(s) created in campaign %s", created, campaign_id)
        return created
