"""Housekeeping by real worker processes on a database and Redis prefix of their own: what is past its
retention is pruned, what is recent (or not yet acknowledged by a consumer group) is kept, and only the
worker holding the leader lock prunes; when it dies, another takes over once the lock expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import redis.asyncio as aioredis

from backend.core.migrate import migrate
from tests.harness import Services, WebProcess, unique, with_database


@dataclass
class Scratch:
    services: Services
    db: asyncpg.Pool
    redis: aioredis.Redis

    def key(self, name: str) -> str:
        return self.services.redis_prefix + name


@pytest.fixture
async def scratch(service_urls) -> AsyncIterator[Scratch]:
    admin_url, redis_url = service_urls
    name = unique("tm_hk_")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    services = Services(with_database(admin_url, name), admin_url, redis_url, unique("tmhk:") + ":")
    conn = await asyncpg.connect(services.database_url)
    await migrate(conn)
    await conn.close()
    db = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    redis = aioredis.Redis.from_url(redis_url)
    yield Scratch(services, db, redis)
    await db.close()
    keys = [k async for k in redis.scan_iter(match=services.redis_prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _seed(s: Scratch, tag: str) -> int:
    """Old and recent rows of every pruned kind; the recent ones carry ``tag`` in their ids."""
    op = await s.db.fetchval(
        """INSERT INTO operators (login, password_hash, role, first_name, last_name)
           VALUES ($1, 'x', 'operator', 'Тест', 'Тестов') RETURNING id""", unique("hk_"))
    await s.db.execute(
        """INSERT INTO operator_sessions (id, operator_id, created_at, idle_expires_at, absolute_expires_at,
                                          revoked_at, revoked_reason)
           VALUES (gen_random_uuid(), $1, now() - interval '41 days', now() - interval '40 days',
                   now() + interval '1 day', now() - interval '40 days', 'LOGOUT'),               -- old logout
                  (gen_random_uuid(), $1, now() - interval '41 days', now() - interval '40 days',
                   now() - interval '35 days', NULL, NULL),                                       -- old expiry
                  (gen_random_uuid(), $1, now() - interval '2 days', now() - interval '1 day',
                   now() + interval '1 day', now() - interval '1 day', 'LOGOUT'),                 -- recent
                  (gen_random_uuid(), $1, now(), now() + interval '1 hour', now() + interval '1 day', NULL, NULL)
        """, op)
    await s.db.execute(
        """INSERT INTO call_events (event_id, event_type, call_id, operator_id, outcome, payload, received_at)
           VALUES ($1, 'CALL_STARTED', 'c', $3, 'APPLIED', '{}', now() - interval '31 days'),
                  ($2, 'CALL_STARTED', 'c', $3, 'APPLIED', '{}', now() - interval '1 day')""",
        unique("old-"), f"recent-{tag}", op)
    await s.db.execute(
        """INSERT INTO operator_events (operator_id, seq, event_type, data, created_at)
           VALUES ($1, 1, 'CLIENT_CARD_READY', '{}', now() - interval '73 hours'),
                  ($1, 2, 'CLIENT_CARD_READY', '{}', now() - interval '71 hours')""", op)
    return int(op)


async def _counts(s: Scratch, op: int) -> tuple[int, int, int]:
    return (await s.db.fetchval("SELECT count(*) FROM operator_sessions WHERE operator_id = $1", op),
            await s.db.fetchval("SELECT count(*) FROM call_events WHERE operator_id = $1", op),
            await s.db.fetchval("SELECT count(*) FROM operator_events WHERE operator_id = $1", op))


async def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


async def test_pruning_keeps_what_is_recent_and_only_the_leader_prunes(scratch):
    s = scratch
    first_op = await _seed(s, "1")
    events, commands = s.key("call-events"), s.key("telephony-commands")
    # Old stream entries (ids are milliseconds since 1970): read and acknowledged, or never delivered.
    await s.redis.xadd(events, {"event": "old"}, id="1000-1")
    await s.redis.xadd(events, {"event": "old"}, id="1000-2")
    await s.redis.xgroup_create(events, "backend", id="$")  # both delivered, nothing pending
    await s.db.execute("INSERT INTO dead_letters (source, reason, payload, created_at) VALUES "
                       "('call-event', 'x', 'old', now() - interval '60 days'), ('call-event', 'x', 'recent', now())")
    await s.redis.xadd(commands, {"command": "old"}, id="1000-1")
    await s.redis.xadd(commands, {"command": "old"}, id="1000-2")
    await s.redis.xgroup_create(commands, "telephony", id="0")
    await s.redis.xreadgroup("telephony", "dead-consumer", {commands: ">"}, count=1)  # pending, unacknowledged

    env = s.services.web_env(HOUSEKEEPING_INTERVAL_SECONDS="0.3", HOUSEKEEPING_LOCK_SECONDS="1.5")
    workers = [WebProcess(env, unique("hk-a-"), module="backend.worker"),
               WebProcess(env, unique("hk-b-"), module="backend.worker")]
    try:
        await s.redis.xadd(events, {"note": "recent"})  # a recent entry (the worker dead-letters it)

        async def first_pruned():
            return await _counts(s, first_op) == (2, 1, 1)
        await _wait(first_pruned)
        assert await s.db.fetchval("SELECT count(*) FROM call_events WHERE event_id = 'recent-1'") == 1
        assert await s.db.fetchval(
            "SELECT count(*) FROM operator_sessions WHERE operator_id = $1 AND revoked_at IS NULL", first_op) == 1

        async def streams_trimmed():
            ids = [i.decode() for i, _ in await s.redis.xrange(events)]
            return ids and "1000-1" not in ids and "1000-2" not in ids
        await _wait(streams_trimmed)
        assert [f[b"note"] for _, f in await s.redis.xrange(events)] == [b"recent"]
        dead = [r["payload"] for r in await s.db.fetch("SELECT payload FROM dead_letters")]
        assert "old" not in dead and "recent" in dead
        # The commands group never acknowledged (or even read) these: they stay whatever their age.
        assert [i.decode() for i, _ in await s.redis.xrange(commands)] == ["1000-1", "1000-2"]

        holder = (await s.redis.get(s.key("housekeeping:leader"))).decode()
        [leader] = [w for w in workers if f"-{w.proc.pid}-" in holder]
        [follower] = [w for w in workers if w is not leader]
        await asyncio.sleep(1.5)  # several more intervals: the follower never prunes
        assert "housekeeping pass by" in leader.log_path.read_text()
        assert "housekeeping pass by" not in follower.log_path.read_text()
        assert "another worker leads" in follower.log_path.read_text()

        leader.kill()  # kill -9: the lock is not released, it expires
        second_op = await _seed(s, "2")

        async def taken_over():
            value = await s.redis.get(s.key("housekeeping:leader"))
            return value is not None and f"-{follower.proc.pid}-".encode() in value
        await _wait(taken_over, timeout=10)

        async def second_pruned():
            return await _counts(s, second_op) == (2, 1, 1)
        await _wait(second_pruned)
        assert "housekeeping pass by" in follower.log_path.read_text()
    finally:
        for worker in workers:
            worker.stop()
