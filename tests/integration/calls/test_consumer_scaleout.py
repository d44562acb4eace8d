"""Issue 18: the worker replicated. Two worker processes share the call-event stream (one consumer group);
one is killed with -9 while it holds entries it read and never acknowledged. Under steady traffic the
survivor takes them over soon after the claim time (not only once the traffic stops and it has drained the
stream), and every call event is
applied exactly once: one communication per call, one client card per communication, none missing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import redis.asyncio as aioredis

from tests.harness import unique
from tests.integration.workstation.helpers import event, seed_task

CLAIM_IDLE = 1.0
CALLS = 400
# calls (8 events) per burst, a burst every 0.15 s (15 s of traffic): every read finds entries, none is empty
BURST = 4


async def _consumers(redis: aioredis.Redis, stream: str) -> dict[str, int]:
    try:
        return {c["name"].decode(): int(c["pending"]) for c in await redis.xinfo_consumers(stream, "backend")}
    except Exception:  # no stream or group yet
        return {}


async def test_two_workers_one_killed_mid_traffic_neither_lose_nor_double_a_call_event(
        services, db, make_user, start_web):
    prefix = unique("tmwk:") + ":"
    stream = prefix + "call-events"
    env = {"REDIS_KEY_PREFIX": prefix, "STREAM_CLAIM_IDLE_SECONDS": str(CLAIM_IDLE)}
    victim = start_web(module="backend.worker", wait=None, **env)
    survivor = start_web(module="backend.worker", wait=None, **env)
    names = {p.proc.pid: f"{socket.gethostname()}-{p.proc.pid}" for p in (victim, survivor)}
    redis = aioredis.Redis.from_url(services.redis_url)
    operators = [await make_user() for _ in range(12)]
    tasks = [await seed_task(db) for _ in range(CALLS)]
    calls = [(unique("wk-call-"), operators[i % len(operators)].id, task) for i, task in enumerate(tasks)]
    pushed: list[str] = []

    async def ready() -> bool:
        return set(names.values()) <= set(await _consumers(redis, stream))

    async def produce() -> None:
        for i in range(0, CALLS, BURST):
            async with redis.pipeline(transaction=False) as pipe:
                for call_id, operator_id, task in calls[i:i + BURST]:
                    for kind in ("CALL_STARTED", "CALL_ENDED"):
                        e = event(kind, operator_id, task, call_id)
                        pushed.append(e["eventId"])
                        pipe.xadd(stream, {"event": json.dumps(e)})
                await pipe.execute()
            await asyncio.sleep(0.15)

    try:
        # Both consumers have joined (the group exists once the first one started).
        await redis.xadd(stream, {"event": json.dumps(event("CALL_ENDED", operators[0].id, tasks[0], "warm-up"))})
        for _ in range(300):
            if await ready():
                break
            await asyncio.sleep(0.1)
        assert await ready(), await _consumers(redis, stream)
        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.8)

        # Catch the victim holding entries it read and has not acknowledged, then kill it there.
        victim_name = names[victim.proc.pid]
        stranded: list[str] = []
        for _ in range(500):
            os.kill(victim.proc.pid, signal.SIGSTOP)
            held = await redis.xpending_range(stream, "backend", min="-", max="+", count=1000,
                                              consumername=victim_name)
            if held:
                entries = {i for i in (h["message_id"] for h in held)}
                for entry_id, fields in await redis.xrange(stream):
                    if entry_id in entries:
                        stranded.append(json.loads(fields[b"event"])["eventId"])
                victim.kill()
                break
            os.kill(victim.proc.pid, signal.SIGCONT)
            await asyncio.sleep(0.01)
        assert stranded, "the victim never held an unacknowledged entry"
        killed_at = asyncio.get_running_loop().time()

        async def applied(ids: list[str]) -> int:
            return int(await db.fetchval("SELECT count(*) FROM call_events WHERE event_id = ANY($1::text[])", ids))

        # Taken over while the traffic goes on, not once it has stopped and the survivor has drained it (then a
        # read finds the stream empty): either the producer is still at it, or later entries still wait.
        while await applied(stranded) < len(stranded):
            assert asyncio.get_running_loop().time() - killed_at < 60, "stranded entries never claimed"
            await asyncio.sleep(0.05)
        seconds = asyncio.get_running_loop().time() - killed_at
        so_far = list(pushed)
        behind = len(so_far) - await applied(so_far)
        print(f"stranded entries: {len(stranded)}, applied {seconds:.2f} s after the kill, "
              f"with the traffic {'still on' if not producer.done() else 'over'} and {behind} events still to apply")
        assert not producer.done() or behind > 0, "the dead worker's entries waited for the traffic to drain"
        await producer

        deadline = asyncio.get_running_loop().time() + 120  # a loaded machine drains slowly
        while await applied(pushed) < len(pushed):
            assert asyncio.get_running_loop().time() < deadline, f"{await applied(pushed)} of {len(pushed)}"
            await asyncio.sleep(0.2)
        call_ids = [c for c, _, _ in calls]
        per_call = await db.fetch("SELECT call_id, count(*) AS n FROM communications WHERE call_id = ANY($1::text[]) "
                                  "GROUP BY call_id", call_ids)
        assert len(per_call) == CALLS and all(r["n"] == 1 for r in per_call)
        cards = await db.fetch(
            """SELECT c.id, count(e.seq) AS n FROM communications c
                 LEFT JOIN operator_events e ON e.operator_id = c.operator_id AND e.event_type = 'CLIENT_CARD_READY'
                                            AND e.data->>'communicationId' = c.id::text
                WHERE c.call_id = ANY($1::text[]) GROUP BY c.id""", call_ids)
        assert len(cards) == CALLS and all(r["n"] == 1 for r in cards), [r for r in cards if r["n"] != 1]
        assert await db.fetchval("SELECT count(*) FROM call_events WHERE event_id = ANY($1::text[]) "
                                 "AND outcome = 'REJECTED'", pushed) == 0
        assert survivor.proc.poll() is None
    finally:
        with_victim = victim.proc.poll() is None
        if with_victim:
            os.kill(victim.proc.pid, signal.SIGCONT)
        await redis.aclose()
