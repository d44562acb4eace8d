"""PostgreSQL pool and Redis client owned by one process."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
from asyncpg.pool import PoolConnectionProxy

from backend.core.settings import Settings

log = logging.getLogger("backend.db")

# Anything queries can run on: the pool, a plain connection, or one acquired from the pool.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
# One server session (advisory locks, transactions): never the pool itself.
Conn = asyncpg.Connection | PoolConnectionProxy


_json_encoder = msgspec.json.Encoder()


async def init_connection(conn: asyncpg.Connection) -> None:
    """json/jsonb columns come back as Python values and take them, encoded by msgspec (fast, strict)."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, schema="pg_catalog", format="text",
                                  encoder=lambda value: _json_encoder.encode(value).decode(),
                                  decoder=msgspec.json.decode)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """Open the pool; if PostgreSQL is down at start, still start (requests answer 503 until it is back)."""
    kwargs: dict[str, Any] = {
        "dsn": settings.database_url,
        "max_size": settings.db_pool_max_size,
        "timeout": settings.dependency_timeout,
        "command_timeout": 30,
        "max_inactive_connection_lifetime": 300,
        "server_settings": {"application_name": "telemarketing", "timezone": "UTC"},
        "init": init_connection,
    }
    try:
        return await asyncpg.create_pool(min_size=settings.db_pool_min_size, **kwargs)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("PostgreSQL not reachable at start-up (%s); will retry on demand", type(exc).__name__)
        return await asyncpg.create_pool(min_size=0, **kwargs)


def create_redis(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.dependency_timeout,
        socket_timeout=settings.dependency_timeout,
        health_check_interval=15,
    )
