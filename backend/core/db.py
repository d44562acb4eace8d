"""PostgreSQL pool and Redis client owned by one process."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg
import msgspec
import redis.asyncio as aioredis
from asyncpg.pool import PoolConnectionProxy
from redis.asyncio.sentinel import Sentinel

from backend.core.retry import retrying
from backend.core.settings import Settings

log = logging.getLogger("backend.db")
T = TypeVar("T")

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


# Connections that took session-level state (an advisory lock held across statements): the pool resets
# these fully when they come back. Every other connection comes back as it is (see reset_connection).
_session_state: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()


def mark_session_state(conn: Conn) -> None:
    """Say that ``conn`` holds session state (an advisory lock, a SET): the pool resets it on release."""
    # The pool's proxy passes isinstance(…, asyncpg.Connection) but cannot be weakly referenced: unwrap it.
    raw: Any = getattr(conn, "_con", None) or conn
    _session_state.add(raw)


async def reset_connection(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`` on every release: a second round trip for every one-statement request (measured:
    15 % of a web process's CPU under saves, issue 16). Our queries leave no session state behind, except
    those marked by ``mark_session_state``; a transaction left open (it cannot be, ``conn.transaction()``
    closes them) is rolled back all the same."""
    if conn in _session_state:
        _session_state.discard(conn)
        await conn.execute(conn.get_reset_query() or "SELECT 1")
    elif conn.is_in_transaction():
        await conn.execute("ROLLBACK")


ROLLED_BACK_ATTEMPTS = 3


async def again_if_rolled_back(body: Callable[[], Awaitable[T]]) -> T:
    """Run a whole transaction (``body``) again, under the one retry policy (``core.retry``), when PostgreSQL
    rolled it back to break a deadlock or a serialization conflict (SQLSTATE class 40): nothing of it was
    written, and the other transaction has gone on. Two writers that lock the same rows in opposite orders (a
    "do not call" result and an admin listing the same phone: each locks the phone's tasks and its list
    entry) cannot both be made to lock in one order, since the result learns the phone's entry is needed only
    after it has locked its task. ``body`` must be safe to repeat from its start (it opens its own
    transaction)."""
    async for attempt in retrying(asyncpg.exceptions.TransactionRollbackError, attempts=ROLLED_BACK_ATTEMPTS):
        with attempt:
            return await body()
    raise AssertionError("unreachable: the last attempt's failure is raised")


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
        "reset": reset_connection,
    }
    try:
        return await asyncpg.create_pool(min_size=settings.db_pool_min_size, **kwargs)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log.warning("PostgreSQL not reachable at start-up (%s); will retry on demand", type(exc).__name__)
        return await asyncpg.create_pool(min_size=0, **kwargs)


async def create_replica_pool(settings: Settings, primary: asyncpg.Pool) -> asyncpg.Pool:
    """The pool reports read from: DATABASE_REPLICA_URL's server when set (a streaming replica, so reads may
    lag the primary by its replay delay), else the primary pool itself (the caller must not close it twice)."""
    if not settings.database_replica_url:
        return primary
    return await create_pool(msgspec.structs.replace(settings, database_url=settings.database_replica_url))


def create_redis(settings: Settings) -> aioredis.Redis:
    """The one place a process gets its Redis client. With REDIS_SENTINELS the client asks the Sentinels
    for the primary on every new connection, and drops a connection whose server became a replica, so
    after a failover the next command (and a reconnecting subscriber or stream reader) reaches the new
    primary; without them REDIS_URL is the server."""
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.dependency_timeout,
        "socket_timeout": settings.dependency_timeout,
        "health_check_interval": 15,
    }
    if not settings.redis_sentinels:
        return aioredis.Redis.from_url(settings.redis_url, **options)
    url = urlsplit(settings.redis_url)
    database = url.path.strip("/") or "0"
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        [_host_port(item) for item in settings.redis_sentinels],
        sentinel_kwargs={"socket_connect_timeout": settings.dependency_timeout,
                         "socket_timeout": settings.dependency_timeout},
        db=int(database), username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None, **options)
    client: aioredis.Redis = sentinel.master_for(settings.redis_sentinel_master)
    return client


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    return host.strip("[]"), int(port)


# After a replica failed to confirm in time: stop waiting for a while (each append would otherwise pay the
# whole timeout while the primary has no replica, e.g. right after a failover), then try again.
_SKIP_SECONDS = 10.0
_skip_until = [0.0]


def replicas_expected(settings: Settings) -> bool:
    """Whether appends are meant to reach a replica before they count as safe (Sentinel and
    REDIS_WAIT_REPLICAS > 0); a single Redis has only its own AOF, and nothing to wait for."""
    return bool(settings.redis_sentinels) and settings.redis_wait_replicas > 0


def wait_for_replicas(pipe: Any, settings: Settings) -> bool:
    """End a pipeline of writes that must survive a Redis failover (call events whose provider cursor is
    about to move past them) with a WAIT for REDIS_WAIT_REPLICAS replicas; True if it was added, and then
    the pipeline's last reply goes to ``replicas_confirmed``. WAIT counts the writes of its own connection,
    so it must travel on the pipeline's, never on another from the pool. A primary that dies before its
    replica has the writes fails the pipeline: the caller does not move on and writes again to the next
    primary."""
    if not replicas_expected(settings) or time.monotonic() < _skip_until[0]:
        return False
    timeout_ms = int(settings.dependency_timeout * 500)  # half the socket timeout (DEPENDENCY_TIMEOUT)
    pipe.wait(settings.redis_wait_replicas, timeout_ms)
    return True


def replicas_confirmed(acked: Any, settings: Settings) -> bool:
    """Whether enough replicas confirmed. One that did not confirm in time is logged, not fatal: a lone
    primary keeps the floor working, and for the next _SKIP_SECONDS nobody waits. What was not confirmed
    is the caller's to keep until it is safe another way (telephony.unconfirmed)."""
    wanted = settings.redis_wait_replicas
    if int(acked) >= wanted:
        return True
    _skip_until[0] = time.monotonic() + _SKIP_SECONDS
    log.warning("only %d of %d Redis replica(s) confirmed a write within %.1f s: writes are not waited "
                "for during the next %.0f s", int(acked), wanted, settings.dependency_timeout / 2, _SKIP_SECONDS)
    return False
