"""Commands to the telephony process, on the Redis Stream ``<prefix>telephony-commands``:
``OPEN_SESSION`` / ``CLOSE_SESSION`` {"operatorId"} (workstation login/logout) and ``ADD_TASK`` /
``DELETE_TASK`` {"telephonyTaskId"} (the campaign engine). A stream, not Pub/Sub: a command sent while
the telephony process is down waits for it."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import redis.asyncio as aioredis

from backend.calls.streams import commands_stream
from backend.core.settings import Settings

log = logging.getLogger("backend.commands")


async def send(redis: aioredis.Redis, settings: Settings, commands: list[dict[str, Any]]) -> bool:
    """Best effort for session commands (the adapter also reconciles sessions with the database every few
    seconds) and for task commands (the engine re-sends tasks the adapter has not taken)."""
    if not commands:
        return True
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.xadd(commands_stream(settings), {"command": msgspec.json.encode(command)}, maxlen=100_000,
                          approximate=True)
            await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        log.warning("telephony command(s) not sent (%s); they will be reconciled", type(exc).__name__)
        return False
    return True
