"""The tm-admin CLI manages the same accounts the HTTP login sees."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from backend.dev.embedded import read_run_env, write_run_env
from tests.conftest import bearer
from tests.harness import REPO, Services, unique, with_database


async def cli(services, *args: str, stdin: str = "") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backend.cli", *args, env=services.web_env(), cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_lifecycle(http, web, services):
    name = unique("cli_")
    code, out = await cli(services, "create-user", name, "--role", "supervisor", "--first-name", "Пётр",
                          "--last-name", "Сидоров", "--password-stdin", stdin="cli-password-1\n")
    assert code == 0, out
    assert "created supervisor" in out and "cli-password-1" not in out

    async def try_login(password: str) -> int:
        r = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": name, "password": password})
        return r.status_code

    assert await try_login("cli-password-1") == 200
    r = await http.post(f"{web[0]}/api/arm/v1/login", json={"login": name, "password": "cli-password-1"})
    token = r.json()["data"]["token"]

    code, out = await cli(services, "lock", name)
    assert code == 0 and "2 session(s) ended" in out, out
    assert (await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(token))).status_code == 401
    assert await try_login("cli-password-1") == 403

    assert (await cli(services, "unlock", name))[0] == 0
    code, out = await cli(services, "set-password", name, "--password-stdin", stdin="cli-password-2\n")
    assert code == 0, out
    assert await try_login("cli-password-1") == 401
    assert await try_login("cli-password-2") == 200

    code, out = await cli(services, "end-sessions", name)
    assert code == 0 and "1 session(s)" in out, out

    code, out = await cli(services, "create-user", name.upper(), "--first-name", "X", "--last-name", "Y",
                          "--password-stdin", stdin="another-password\n")
    assert code != 0 and "already taken" in out
    code, out = await cli(services, "create-user", unique("c_"), "--first-name", "X", "--last-name", "Y",
                          "--password-stdin", stdin="short\n")
    assert code != 0 and "at least 8" in out
    code, out = await cli(services, "lock", unique("nobody_"))
    assert code != 0 and "no operator" in out


async def test_cli_finds_the_run_commands_database(services, tmp_path, make_user):
    """No DATABASE_URL: tm-admin reads the URL the run command wrote to .data/run.env, and says so."""
    user = await make_user("operator")
    run_env = tmp_path / "run.env"
    write_run_env({"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}, run_env)
    assert run_env.stat().st_mode & 0o777 == 0o600  # the URL may carry a password
    assert read_run_env(run_env) == {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url}
    env = {k: v for k, v in services.web_env().items() if k != "DATABASE_URL"}
    code = ("import sys, backend.cli as c, backend.dev.embedded as e; from pathlib import Path; "
            "c.RUN_ENV = e.RUN_ENV = Path(sys.argv[1]); "
            "c.read_run_env = lambda: e.read_run_env(c.RUN_ENV); c.main(['list-users'])")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(run_env), env=env, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert user.login in out.decode()
    assert f"using the run command's database (from {run_env})" in err.decode()

    run_env.unlink()  # the run command stopped: a clear configuration error, as before
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(run_env), env=env, cwd=REPO,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "DATABASE_URL is not set" in err.decode()


async def test_seed_demo_is_idempotent_and_never_requeues_called_clients(service_urls):
    """`dev.py run` seeds the demo on every start: the second start finds everything in place, whether or not
    the demo clients were called meanwhile."""
    admin_url, redis_url = service_urls
    name = unique("tm_seed_")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')  # its own database: the shared worker would dial the tasks
    own = Services(with_database(admin_url, name), admin_url, redis_url, unique("tmseed:") + ":")
    try:
        assert (await cli(own, "migrate"))[0] == 0
        db = await asyncpg.connect(own.database_url)

        async def counts() -> dict[str, int]:
            row = await db.fetchrow(
                """SELECT (SELECT count(*) FROM campaigns) AS campaigns, (SELECT count(*) FROM campaign_tasks) AS tasks,
                          (SELECT count(*) FROM campaign_tasks WHERE task_state = 'NEW') AS queued,
                          (SELECT count(*) FROM client_products) AS products,
                          (SELECT count(DISTINCT phone) FROM campaign_tasks) AS clients,
                          (SELECT count(*) FROM operators) AS users""")
            return dict(row)

        try:
            code, out = await cli(own, "seed-demo")
            assert code == 0, out
            first = await counts()
            assert first == {"campaigns": 1, "tasks": 20, "queued": 20, "products": 20, "clients": 20, "users": 4}

            code, out = await cli(own, "seed-demo")  # a restart before any call
            assert code == 0, out
            assert await counts() == first

            # The demo operator called every client (as the simulator does), then the run command restarted.
            await db.execute("UPDATE campaign_tasks SET task_state = 'DONE'")
            code, out = await cli(own, "seed-demo")
            assert code == 0, out
            assert await counts() == {**first, "queued": 0}
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
