"""Delivery survives a Redis restart; stream entries left pending by a crashed consumer are reclaimed."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from backend.dev.embedded import start_redis
from tests.conftest import login
from tests.harness import ARTIFACTS, free_port, unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task, xadd


async def test_delivery_survives_a_redis_restart(http, db, make_user, start_web):
    folder = ARTIFACTS / unique("redis-")
    port = free_port()
    redis_url, stop_redis = await asyncio.to_thread(start_redis, folder, port)
    prefix = unique("tmtest-restart:") + ":"
    try:
        a = start_web(REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
        b = start_web(REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
        start_web(module="backend.worker", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
        op = await make_user("operator")
        token = await login(http, a.url, op)
        ws = await Socket.open(b.url, token)
        task = await seed_task(db)
        call = unique("call-")

        await asyncio.to_thread(stop_redis)
        down = await push(http, a.url, event("CALL_STARTED", op.id, task, call))
        assert down.status_code == 200  # accepted and committed although Redis is down
        frame = await ws.next(timeout=3)  # ... and delivered from PostgreSQL by the sweep
        assert frame["type"] == "CLIENT_CARD_READY"

        redis_url, stop_redis = await asyncio.to_thread(start_redis, folder, port)
        for _ in range(50):
            if "event subscription restored" in b.log_path.read_text():
                break
            await asyncio.sleep(0.2)
        assert "event subscription restored" in b.log_path.read_text()
        await push(http, a.url, event("CALL_ENDED", op.id, task, call))
        assert (await ws.next(timeout=3))["type"] == "CALL_ENDED"

        # The stream consumer recovered too (its group is recreated if the restart lost it).
        other = await seed_task(db)
        await xadd(redis_url, prefix, event("CALL_STARTED", op.id, other, unique("call-")))
        frame = await ws.next(timeout=8)
        assert frame["type"] == "CLIENT_CARD_READY"
        assert frame["data"]["clientCard"]["clientInfo"]["phone"] == other["phone"]
        await ws.close()
    finally:
        await asyncio.to_thread(stop_redis)


async def test_entries_left_pending_by_a_crashed_consumer_are_reclaimed(http, db, make_user, services, start_web):
    prefix = unique("tmtest-pending:") + ":"
    stream = prefix + "call-events"
    web = start_web(REDIS_KEY_PREFIX=prefix)
    op = await make_user("operator")
    token = await login(http, web.url, op)
    ws = await Socket.open(web.url, token)
    task = await seed_task(db)
    client = aioredis.Redis.from_url(services.redis_url)
    try:
        await client.xgroup_create(stream, "backend", id="0", mkstream=True)
        await client.xadd(stream, {"event": json.dumps(event("CALL_STARTED", op.id, task, unique("call-")))})
        # A consumer that reads the entry and dies before acknowledging it.
        taken = await client.xreadgroup("backend", "crashed-consumer", {stream: ">"}, count=100)
        assert len(taken[0][1]) == 1
        start_web(module="backend.worker", REDIS_KEY_PREFIX=prefix)
        assert await ws.silent(5)  # not yet: the entry belongs to the crashed consumer until it idles 10 s
        frame = await ws.next(timeout=15)
        assert frame["type"] == "CLIENT_CARD_READY"
        # Acknowledged once applied: the card is published in the applying transaction's wake and the XACK
        # follows it, so give it a moment rather than race it.
        for _ in range(40):
            pending = await client.xpending(stream, "backend")
            if pending["pending"] == 0:
                break
            await asyncio.sleep(0.05)
        assert pending["pending"] == 0
    finally:
        await client.delete(stream)
        await client.aclose()
        await ws.close()
