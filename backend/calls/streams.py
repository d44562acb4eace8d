"""The two Redis Streams between the telephony process and the backend: call events in (consumer group
``backend``) and commands out (consumer group ``telephony``). Their names are the contract both sides
import from here."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from backend.core.settings import Settings

EVENTS_GROUP = "backend"
COMMANDS_GROUP = "telephony"


def events_stream(settings: Settings) -> str:
    return settings.redis_key_prefix + "call-events"


def commands_stream(settings: Settings) -> str:
    return settings.redis_key_prefix + "telephony-commands"


def work_streams(settings: Settings) -> list[str]:
    return [events_stream(settings), commands_stream(settings)]


def _id(value: Any) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def trim_before(redis: aioredis.Redis, stream: str, cutoff_ms: int) -> int:
    """Delete entries older than ``cutoff_ms`` (Redis clock, as entry ids are), but never one a consumer
    group has not yet read or has read and not acknowledged: a consumer that was down longer than the
    retention still finds its work."""
    floor = (cutoff_ms, 0)
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:
        return 0  # no such stream
    for group in groups:
        ms, seq = _id(group["last-delivered-id"])
        floor = min(floor, (ms, seq + 1))  # everything up to the last delivered entry was read
        if int(group["pending"]):
            summary: Any = await redis.xpending(stream, group["name"])
            floor = min(floor, _id(summary["min"]))
    removed: Any = await redis.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)
    return int(removed)
