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

from backend.core.settings import Settings

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


async def _publish(redis: aioredis.Redis, settings: Settings, messages: list[str], fallback: str) -> None:
    """Best effort: what is published is committed already; a failure only delays it to the hub's sweep."""
    if not messages:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(channel(settings), message)
            await pipe.execute()
    except (OSError, aioredis.RedisError) as exc:
        log.warning("publishing %d message(s) failed (%s); %s", len(messages), type(exc).__name__, fallback)


async def publish(redis: aioredis.Redis, settings: Settings, frames: list[Frame]) -> None:
    await _publish(redis, settings, [f"E {f.operator_id} {f.seq} {f.text}" for f in frames],
                   "sockets catch up from the database")


async def publish_session_ended(redis: aioredis.Redis, settings: Settings, session_ids: list[str]) -> None:
    await _publish(redis, settings, [f"S {s}" for s in session_ids], "sockets close at the next sweep")
