"""A whole stack of its own for telephony tests: a fresh database and Redis prefix, the provider
simulator, the telephony process, one web and one worker process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from backend.auth.passwords import hash_sync
from backend.core.migrate import migrate
from tests.conftest import User
from tests.harness import Services, WebProcess, free_port, unique, with_database


@dataclass
class Stack:
    services: Services
    db: asyncpg.Pool
    redis: aioredis.Redis
    web: WebProcess
    sim_url: str
    telephony_port: int
    env: dict[str, str]
    procs: dict[str, WebProcess] = field(default_factory=dict)

    def start(self, name: str, module: str, **overrides: str) -> WebProcess:
        proc = WebProcess(dict(self.env, **overrides), unique(name + "-"), module=module)
        self.procs[name] = proc
        return proc

    def start_telephony(self, name: str) -> tuple[WebProcess, int]:
        """Another telephony process (its own /health port): (process, port)."""
        port = free_port()
        return self.start(name, "telephony", TELEPHONY_PORT=str(port)), port

    async def user(self, role: str = "operator") -> User:
        login, password = unique(role[:3] + "_"), unique("pw-")
        password_hash = await asyncio.to_thread(hash_sync, password)
        row_id = await self.db.fetchval(
            """INSERT INTO operators (login, password_hash, role, first_name, last_name)
               VALUES ($1, $2, $3, 'Тест', 'Тестов') RETURNING id""", login, password_hash, role)
        return User(row_id, login, password, role)

    async def sim(self, http: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
        r = await http.request(method, self.sim_url + path, json=body)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def stream(self, name: str = "call-events") -> list[dict[str, Any]]:
        entries = await self.redis.xrange(self.services.redis_prefix + name)
        return [json.loads(fields[b"event"]) for _, fields in entries if b"event" in fields]

    async def health(self, http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(f"http://127.0.0.1:{self.telephony_port}/health")

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, every: float = 0.1) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await predicate()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(every)


@pytest.fixture
async def stack(service_urls: tuple[str, str]) -> AsyncIterator[Callable[..., Any]]:
    created: list[tuple[Stack, asyncpg.Connection, str]] = []

    async def make(**overrides: str) -> Stack:
        admin_url, redis_url = service_urls
        name = unique("tm_tel_")
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        services = Services(with_database(admin_url, name), admin_url, redis_url, unique("tmtel:") + ":")
        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        await conn.close()
        sim_port, tel_port = free_port(), free_port()
        env = services.web_env(**{"PROVIDER_URL": f"http://127.0.0.1:{sim_port}", "TELEPHONY_PORT": str(tel_port),
                                  "SIM_PORT": str(sim_port), "POLL_INTERVAL_SECONDS": "0.1",
                                  "CAMPAIGN_ENGINE_INTERVAL": "0.2", "PROVIDER_TIMEOUT": "1",
                                  "SIM_TALK_SECONDS": "1-1", **overrides})
        db = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
        redis = aioredis.Redis.from_url(redis_url)
        web = WebProcess(env, unique("tel-web-"))
        st = Stack(services, db, redis, web, f"http://127.0.0.1:{sim_port}", tel_port, env)
        created.append((st, admin, name))
        st.start("simulator", "telephony.simulator")
        st.start("worker", "backend.worker")
        await asyncio.to_thread(web.wait_ready)
        async with httpx.AsyncClient() as http:
            async def sim_up() -> bool:
                try:
                    return (await http.get(st.sim_url + "/api/v1/health")).status_code == 200
                except httpx.HTTPError:
                    return False
            await st.wait_for(sim_up)
        telephony = st.start("telephony", "telephony")
        # Listening (its /health may say 503 until the provider answers a poll): a process that could not
        # start (a port taken, a dependency refused) fails here with its log, not later as a missing session.
        await asyncio.to_thread(telephony.wait_ready, url=f"http://127.0.0.1:{tel_port}", answering=True)
        return st

    yield make
    for st, admin, name in created:
        for proc in [st.web, *st.procs.values()]:
            proc.stop()
        await st.db.close()
        keys = [k async for k in st.redis.scan_iter(match=st.services.redis_prefix + "*", count=1000)]
        if keys:
            await st.redis.delete(*keys)
        await st.redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
