"""A leader lock in Redis: one holder at a time among several processes, lost when the holder stops
renewing it (it died, or lost Redis for longer than the lock lives).

The key holds the holder's token with an expiry. ``hold()`` is one Lua script: renew the expiry if the
key holds our token, take the key if it is free, otherwise report that someone else leads. ``release()``
deletes the key only if it still holds our token (compare-and-delete), so a holder whose lock already
expired never deletes its successor's.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import redis.asyncio as aioredis

_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if not current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLock:
    def __init__(self, redis: aioredis.Redis, key: str, ttl_seconds: float, token: str | None = None) -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        # Readable in Redis (which host and process leads) and unique (a restarted pid is another holder).
        self.token = token or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def hold(self) -> bool:
        """Take or renew the lock; False while another holder has it."""
        result: Any = await self._redis.eval(_HOLD, 1, self.key, self.token, self.ttl_ms)
        return bool(int(result))

    async def release(self) -> bool:
        result: Any = await self._redis.eval(_RELEASE, 1, self.key, self.token)
        return bool(int(result))

    async def holder(self) -> str | None:
        value: Any = await self._redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value
