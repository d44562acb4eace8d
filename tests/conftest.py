from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from backend.auth.passwords import hash_sync
from backend.core.migrate import migrate
from backend.dev.embedded import services_from_env
from tests.harness import STARTED, Services, WebProcess, unique, with_database

_FIRST_PROCESS = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    item.stash[_FIRST_PROCESS] = len(STARTED)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failed test's report ends with the logs of the processes it started: CI shows only the test
    output, and a process that died or stalled (a port taken, a dependency refused) is the usual cause."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("setup", "call"):
        for proc in STARTED[item.stash.get(_FIRST_PROCESS, len(STARTED)):]:
            report.sections.append((f"log of {proc.log_path.name}", proc.log_tail()))
    return report


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    """(maintenance database URL, Redis URL): the services named by DATABASE_URL/REDIS_URL, or embedded
    ones under .data/ (the same mechanism as the run command)."""
    database_url, redis_url, stops = services_from_env("test", "postgres")
    yield database_url, redis_url
    for stop in reversed(stops):
        stop()


@pytest.fixture(scope="session")
async def services(service_urls: tuple[str, str]) -> AsyncIterator[Services]:
    admin_url, redis_url = service_urls
    name = unique("tm_test_")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    scratch = with_database(admin_url, name)
    conn = await asyncpg.connect(scratch)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    prefix = unique("tmtest:") + ":"
    yield Services(database_url=scratch, admin_url=admin_url, redis_url=redis_url, redis_prefix=prefix)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def shared_worker(services: Services) -> Iterator[list[WebProcess]]:
    """The worker of the shared stack, in a list so that a test may crash it and put a new one in its place."""
    holder = [WebProcess(services.web_env(), "shared", module="backend.worker")]
    yield holder
    holder[0].stop()


@pytest.fixture(scope="session")
async def web(services: Services, shared_worker: list[WebProcess]) -> AsyncIterator[list[str]]:
    """Two web processes and a worker sharing PostgreSQL and Redis: tests may log in on one web process,
    hold a socket on the other, and feed call events through the worker."""
    procs = [WebProcess(services.web_env(), "a"), WebProcess(services.web_env(), "b")]
    try:
        for proc in procs:
            await asyncio.to_thread(proc.wait_ready)
        yield [p.url for p in procs]
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture
async def start_web(services: Services) -> AsyncIterator[Callable[..., WebProcess]]:
    """Start an extra web process with overridden settings; stopped after the test."""
    started: list[WebProcess] = []

    def start(*, wait: str | None = "/health", module: str = "backend.web", port: int | None = None,
              **overrides: str) -> WebProcess:
        proc = WebProcess(services.web_env(**overrides), unique("custom-"), module=module, port=port)
        started.append(proc)
        if wait and module == "backend.web":
            proc.wait_ready(wait)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
async def db(services: Services) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(services.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@dataclass
class User:
    id: int
    login: str
    password: str
    role: str


@pytest.fixture(scope="session")
def make_user(db: asyncpg.Pool) -> Callable[..., object]:
    async def make(role: str = "operator", *, locked: bool = False, password: str | None = None) -> User:
        login = unique(role[:3] + "_")
        password = password or unique("pw-")
        password_hash = await asyncio.to_thread(hash_sync, password)
        row = await db.fetchrow(
            """INSERT INTO operators (login, password_hash, role, locked, first_name, last_name)
               VALUES ($1, $2, $3, $4, 'Тест', 'Тестов') RETURNING id""",
            login, password_hash, role, locked,
        )
        assert row is not None
        return User(row["id"], login, password, role)

    return make


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def login(http: httpx.AsyncClient, base: str, user: User) -> str:
    response = await http.post(f"{base}/api/arm/v1/login", json={"login": user.login, "password": user.password})
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def integrations_sim() -> Iterator[object]:
    """The integration services' simulator (integrations_sim), one subprocess for the session: ``.url`` is the
    INTEGRATIONS_URL to use, and the object is its control client (reset, faults, verdicts, stats)."""
    from integrations_sim.testing import ARTIFACT_LOG, running_simulator

    with running_simulator(log=ARTIFACT_LOG) as sim:
        yield sim
