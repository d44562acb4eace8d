"""The leader lock against a real Redis: one holder at a time, renewable only by its holder, released only
by its holder, and free again once a holder stops renewing it (it died)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from backend.core.leader import LeaderLock
from tests.harness import unique


async def test_one_holder_at_a_time_and_the_lock_expires_when_its_holder_dies(services):
    redis = aioredis.Redis.from_url(services.redis_url)
    key = services.redis_prefix + unique("leader-")
    try:
        first, second = LeaderLock(redis, key, 0.6), LeaderLock(redis, key, 0.6)
        assert first.token != second.token
        assert await first.hold()
        assert not await second.hold()
        assert await first.holder() == first.token
        for _ in range(4):  # renewed by its holder, it outlives its expiry
            await asyncio.sleep(0.3)
            assert await first.hold()
            assert not await second.hold()
        assert not await second.release()  # not the holder: nothing deleted
        assert await first.holder() == first.token

        await asyncio.sleep(0.8)  # the holder "dies": no renewal
        assert await second.hold()
        assert await second.holder() == second.token
        assert not await first.hold()  # the old holder has lost it
        assert not await first.release()  # and cannot delete its successor's lock
        assert await second.release()
        assert await first.hold()  # released: free at once
    finally:
        await redis.delete(key)
        await redis.aclose()
