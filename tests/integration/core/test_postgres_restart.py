"""A PostgreSQL restart under traffic, on a scratch cluster of its own (initdb + pg_ctl): requests while the
server is down or restarting get 503 with a code (never a 500), and the web process serves again on its own
once the server is back; the session made before the restart is still valid (it lives in PostgreSQL)."""

from __future__ import annotations

import asyncio
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from backend.auth.passwords import hash_sync
from backend.core.migrate import migrate
from tests.conftest import bearer
from tests.harness import free_port


def _bin() -> Path | None:
    spec = importlib.util.find_spec("pgserver")
    embedded = [Path(p) / "pginstall" / "bin" for p in (spec.submodule_search_locations or [])] if spec else []
    for folder in [*map(Path, sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), *embedded]:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class Cluster:
    """initdb'd into a temporary folder, listening on a free loopback port; run as `postgres` when we are
    root (PostgreSQL refuses to run as root)."""

    def __init__(self, folder: Path, binaries: Path) -> None:
        self.folder, self.bin, self.port = folder, binaries, free_port()
        self.data = folder / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no such user
            shutil.chown(folder, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.bin / tool), *args], capture_output=True, text=True,
                              timeout=60, cwd=self.folder)
        assert done.returncode == 0, done.stdout + done.stderr

    def pg_ctl(self, action: str, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-t", "30", "-o", options,
                  "-l", str(self.folder / "server.log"), *args)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binaries = _bin()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) found")
    folder = Path(tempfile.mkdtemp(prefix="tm-pg-restart-"))
    try:
        try:
            made = Cluster(folder, binaries)
        except KeyError:
            pytest.skip("running as root without a `postgres` user to run a scratch PostgreSQL as")
        made.pg_ctl("start")
        yield made
        made.pg_ctl("stop", "-m", "immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_postgresql_restart_under_traffic_gives_503_never_500_and_is_survived(http, cluster, start_web):
    conn = await asyncpg.connect(cluster.url)
    try:
        await migrate(conn)
        password = "restart-pw-0123"
        hashed = await asyncio.to_thread(hash_sync, password)
        await conn.execute("""INSERT INTO operators (login, password_hash, role, first_name, last_name)
                              VALUES ('restart_op', $1, 'operator', 'Тест', 'Тестов')""", hashed)
    finally:
        await conn.close()
    web = start_web(DATABASE_URL=cluster.url, DB_POOL_MIN_SIZE="2", DEPENDENCY_TIMEOUT="1")
    r = await http.post(f"{web.url}/api/arm/v1/login", json={"login": "restart_op", "password": password})
    token = r.json()["data"]["token"]
    listing = f"{web.url}/api/arm/v1/listCommunications"
    assert (await http.get(listing, headers=bearer(token))).status_code == 200

    statuses: list[int] = []
    codes: set[str] = set()
    restarted = asyncio.Event()

    async def traffic() -> None:
        after = 0
        while after < 20:  # until 20 requests after the restart finished
            r = await http.get(listing, headers=bearer(token))
            statuses.append(r.status_code)
            if r.status_code != 200:
                assert r.status_code == 503, r.text
                codes.add(r.json()["error"]["code"])
            if restarted.is_set():
                after += 1
            await asyncio.sleep(0.05)

    async def restart() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(cluster.pg_ctl, "stop", "-m", "fast")
        await asyncio.sleep(1.0)  # down for a second: requests now find no server at all
        await asyncio.to_thread(cluster.pg_ctl, "start")
        restarted.set()

    await asyncio.wait_for(asyncio.gather(traffic(), restart()), 60)
    assert 500 not in statuses
    assert statuses.count(503) >= 1 and codes == {"SERVICE_UNAVAILABLE"}
    assert statuses[-1] == 200  # the pool reconnected by itself; the token's session survived
    print(f"\nrestart: {statuses.count(503)} x 503, {statuses.count(200)} x 200, 0 x 500")
