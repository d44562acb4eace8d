"""Call events are not taken as safe until a Redis replica has them: the WAIT travels on the same
connection as the appends (WAIT counts only its own connection's writes), answers how many replicas
confirmed, and a replica that stops answering is reported and then not waited for a while."""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest
import redis.asyncio as aioredis

from backend.core import db as core_db
from backend.core.db import replicas_confirmed, wait_for_replicas
from backend.core.settings import Settings
from tests.harness import ARTIFACTS, unique
from tests.integration.scaleout.redis_ha import RedisHA


async def append(client: aioredis.Redis, settings: Settings) -> tuple[bool, int | None]:
    async with client.pipeline(transaction=False) as pipe:
        pipe.xadd("call-events", {"event": "{}"})
        waited = wait_for_replicas(pipe, settings)
        replies = await pipe.execute()
    if waited:
        replicas_confirmed(replies[-1], settings)
    return waited, int(replies[-1]) if waited else None


async def test_appends_wait_for_the_replica_and_a_stopped_replica_is_reported(caplog, monkeypatch):
    ha = RedisHA(ARTIFACTS / unique("redis-wait-"))
    await asyncio.to_thread(ha.start, sentinels=False)
    client = aioredis.Redis(port=ha.primary)
    monkeypatch.setattr(core_db, "_skip_until", [0.0])
    settings = Settings(redis_sentinels=("127.0.0.1:1",), dependency_timeout=1.0)
    try:
        assert await append(client, settings) == (True, 1)
        assert await client.xlen("call-events") == 1

        ha.procs[ha.replica].send_signal(signal.SIGSTOP)  # the replica hangs (a host lost)
        with caplog.at_level(logging.WARNING, logger="backend.db"):
            assert await append(client, settings) == (True, 0)  # after 0.5 s: not confirmed
        assert "only 0 of 1 Redis replica(s) confirmed" in caplog.text
        assert await append(client, settings) == (False, None)  # not waited for during the next 10 s
        ha.procs[ha.replica].send_signal(signal.SIGCONT)

        without = Settings(dependency_timeout=1.0)  # no Sentinels: a single Redis, nothing to wait for
        assert await append(client, without) == (False, None)
    finally:
        await client.aclose()
        ha.procs[ha.replica].send_signal(signal.SIGCONT)
        await asyncio.to_thread(ha.stop)


@pytest.fixture(autouse=True)
def _no_skip_leak(monkeypatch):
    monkeypatch.setattr(core_db, "_skip_until", [0.0])
