"""A command carried out whose acknowledgement cannot reach Redis (it went away at that moment) stays pending
and is taken up again; the process says so in its own log line instead of leaving an exception nobody
retrieves in the command's task (asyncio's "Task exception was never retrieved", printed at some later GC)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis

from backend.calls.streams import COMMANDS_GROUP
from backend.core.settings import Settings
from telephony.commands import Commands
from telephony.context import Context
from tests.harness import ARTIFACTS, unique
from tests.integration.scaleout.redis_ha import RedisHA


class KillsRedis(Commands):
    """Carries a command out; meanwhile, the Redis it acknowledges to dies."""

    def __init__(self, ctx: Context, ha: RedisHA) -> None:
        super().__init__(ctx, cast(Any, None))
        self.ha = ha

    async def execute(self, command: dict[str, Any]) -> None:
        await asyncio.to_thread(self.ha.stop)


async def test_an_acknowledgement_lost_with_redis_is_logged_and_the_task_ends_cleanly(services, caplog):
    ha = RedisHA(ARTIFACTS / unique("redis-cmd-"))
    await asyncio.to_thread(ha.start, sentinels=False)
    settings = Settings(redis_key_prefix=unique("tmtest:cmd:") + ":", dependency_timeout=1.0)
    redis = aioredis.Redis(port=ha.primary, socket_timeout=1, socket_connect_timeout=1)
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=2)
    try:
        commands = KillsRedis(Context(pool, redis, settings, cast(Any, None)), ha)
        stream = commands._stream
        await redis.xgroup_create(stream, COMMANDS_GROUP, id="0", mkstream=True)
        await redis.xadd(stream, {"command": b'{"type":"OPEN_SESSION","operatorId":1}'})
        reply: Any = await redis.xreadgroup(COMMANDS_GROUP, commands._consumer, {stream: ">"}, count=1)
        entry_id, fields = reply[0][1][0]
        with caplog.at_level(logging.WARNING, logger="telephony"):
            commands._spawn(entry_id, fields)
            task = commands._inflight[entry_id]
            await asyncio.wait_for(asyncio.shield(task), 30)
        assert task.exception() is None
        assert "not acknowledged" in caplog.text
    finally:
        await pool.close()
        await redis.aclose(close_connection_pool=True)
        await asyncio.to_thread(ha.stop)
