"""PostgreSQL failover as the app sees it: a multi-host DATABASE_URL skips a dead host and finds the one that
accepts writes; the replica pool falls back to the primary; and when every app connection is cut (what a
primary restart or a failover does) the web process answers 503 with a code, never a 500, and is back on
its own."""

from __future__ import annotations

import asyncio
import tempfile
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from backend.core.db import create_pool, create_replica_pool
from backend.core.settings import WEB_REQUIRES, Settings
from tests.conftest import bearer, login
from tests.harness import free_port


def dead_host_first(url: str) -> str:
    """The same database behind a host that is down (nothing listens there), as a standby that died would
    be, listed first, with target_session_attrs=read-write."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    netloc = parts.netloc
    if parts.hostname:  # TCP: a closed port first
        userinfo = netloc.rpartition("@")[0]
        live = f"{parts.hostname}:{parts.port or 5432}"
        netloc = f"{userinfo + '@' if userinfo else ''}127.0.0.1:{free_port()},{live}"
    else:  # a Unix socket folder (the embedded server): an empty folder first
        query["host"] = f"{tempfile.mkdtemp()},{query['host']}"
    query["target_session_attrs"] = "read-write"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/,"), ""))


def settings_for(url: str, **extra: str) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/0", "JWT_SECRET": "k" * 32,
                              **extra}, require=WEB_REQUIRES)


async def test_a_multi_host_url_skips_the_dead_host_and_reaches_the_primary(services):
    url = dead_host_first(services.database_url)
    settings = settings_for(url)  # settings validation accepts it
    pool = await create_pool(settings)
    try:
        assert await pool.fetchval("SELECT NOT pg_is_in_recovery()") is True
        assert await pool.fetchval("SELECT current_database()") == urlsplit(services.database_url).path[1:]
    finally:
        await pool.close()


async def test_the_replica_pool_is_the_primary_unless_a_replica_is_set(services):
    settings = settings_for(services.database_url)
    primary = await create_pool(settings)
    try:
        assert await create_replica_pool(settings, primary) is primary
        # A replica URL gets a pool of its own (here the same server stands in for the replica).
        replica = await create_replica_pool(settings_for(services.database_url,
                                                         DATABASE_REPLICA_URL=services.database_url), primary)
        assert replica is not primary
        assert await replica.fetchval("SELECT 1") == 1
        await replica.close()
    finally:
        await primary.close()


async def test_cut_connections_give_503_with_a_code_never_500_and_the_web_recovers(http, services, make_user,
                                                                                    start_web):
    web = start_web(DB_POOL_MIN_SIZE="2")
    op = await make_user("operator")
    token = await login(http, web.url, op)
    listing = f"{web.url}/api/arm/v1/listCommunications"
    assert (await http.get(listing, headers=bearer(token))).status_code == 200
    admin = await asyncpg.connect(services.database_url)
    try:
        statuses: list[int] = []

        async def traffic() -> None:
            for _ in range(40):
                r = await http.get(listing, headers=bearer(token))
                statuses.append(r.status_code)
                if r.status_code != 200:
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"], r.text  # machine-readable: which dependency is away
                await asyncio.sleep(0.02)

        async def cut() -> int:
            await asyncio.sleep(0.2)
            killed = 0
            for _ in range(3):  # as a restart would, three times while requests are in flight
                killed += await admin.fetchval(
                    """SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE datname = current_database() AND application_name = 'telemarketing'
                          AND pid <> pg_backend_pid()) t""")
                await asyncio.sleep(0.15)
            return killed

        killed, _ = await asyncio.gather(cut(), traffic())
        assert killed >= 2
        assert 500 not in statuses
        assert (await http.get(listing, headers=bearer(token))).status_code == 200  # the pool reconnected
        print(f"\n{killed} connections cut; answers: {statuses.count(200)} x 200, {statuses.count(503)} x 503")
    finally:
        await admin.close()
