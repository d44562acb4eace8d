"""Cross-process fan-out of operator events over one Redis Pub/Sub channel.

PostgreSQL holds the events (operator_events); Pub/Sub is only the fast path that wakes the web
process holding the operator's socket. A message lost to a Redis restart is recovered by the hub's
sweep, which compares each socket's last sent seq with the database once a second.

Wire format of a message: ``E <operator_id> <seq> <frame json>`` for an event, ``S <session uuid>``
for a session that ended (so its sockets close at once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis

from backend.settings import Settings

log = logging.getLogger("backend.events")
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Frame:
    operator_id: int
    seq: int
    text: str


def encode_frame(event_type: str, seq: int | None, data: Any) -> str:
    return _encoder.encode({"type": event_type, "seq": seq, "data": data}).decode()


def channel(settings: Settings) -> str:
    return settings.redis_key_prefix + "operator-events"


async def publish(redis: aioredis.Redis, settings: Settings, frames: list[Frame]) -> None:
    """Best effort: the events are committed already; a failure here only delays delivery to the sweep."""
    if not frames:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for frame in frames:
                pipe.publish(channel(settings), f"E {frame.operator_id} {frame.seq} {frame.text}")
            await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        log.warning("publishing %d event(s) failed (%s); sockets catch up from the database", len(frames),
                    type(exc).__name__)


async def publish_session_ended(redis: aioredis.Redis, settings: Settings, session_ids: list[str]) -> None:
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.publish(channel(settings), f"S {session_id}")
            await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        log.warning("publishing session end failed (%s); sockets close at the next sweep", type(exc).__name__)
