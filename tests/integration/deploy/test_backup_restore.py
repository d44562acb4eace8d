"""The backup and restore procedure of docs/deploy.md, run as written: deploy/backup.sh dumps the database an
operator works in, deploy/restore.sh restores it into a new database, and a web process started on the
restored database lets the operator log in and see their rework list as it was."""

from __future__ import annotations

import asyncio
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import bearer, login
from tests.harness import ARTIFACTS, REPO, unique, with_database
from tests.integration.workstation.helpers import event, push, seed_task


def client_bin(server_major: int) -> str:
    """A folder of PostgreSQL client programs whose pg_dump can read this server (same or newer major):
    the embedded server's own, Debian's, or PATH's."""
    spec = importlib.util.find_spec("pgserver")  # the wheel's own binaries, without importing it
    embedded = [str(Path(p) / "pginstall" / "bin") for p in (spec.submodule_search_locations or [])] if spec else []
    candidates = [*embedded,
                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if found := shutil.which("pg_dump"):
        candidates.append(str(Path(found).parent))
    for folder in candidates:
        tools = [Path(folder, name) for name in ("pg_dump", "pg_restore", "psql")]
        if not all(tool.exists() for tool in tools):
            continue
        version = subprocess.run([str(tools[0]), "--version"], capture_output=True, text=True).stdout
        if (match := re.search(r"(\d+)\.", version)) and int(match.group(1)) >= server_major:
            return folder
    pytest.skip(f"no pg_dump/pg_restore/psql of PostgreSQL {server_major} or newer found")


async def test_a_restored_backup_serves_the_operator_their_rework_list(http, db, services, make_user, start_web,
                                                                     shared_worker):
    web = start_web(RESULT_WINDOW_SECONDS="1")  # the shared worker turns the unsaved results into rework
    op = await make_user("operator")
    token = await login(http, web.url, op)
    drafts = []
    for comment in ("перезвонить вечером", "клиент в отпуске до понедельника"):
        task = await seed_task(db)
        call = unique("call-")
        assert (await push(http, web.url, event("CALL_STARTED", op.id, task, call))).status_code == 200
        comm = await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call)
        draft = {"communicationId": comm, "clientPhone": task["phone"],
                 "communicationResult": {"result": "Перезвонить", "comment": comment}}
        saved = await http.post(f"{web.url}/api/arm/v1/saveCommunicationDraft", json=draft, headers=bearer(token))
        assert saved.status_code == 200, saved.text
        assert (await push(http, web.url, event("CALL_ENDED", op.id, task, call))).status_code == 200
        drafts.append(comm)
    for _ in range(100):
        before = (await http.get(f"{web.url}/api/arm/v1/listCommunications", headers=bearer(token))).json()
        if len(before["data"]["communications"]) == len(drafts):
            break
        await asyncio.sleep(0.1)
    assert {c["id"] for c in before["data"]["communications"]} == set(drafts)
    assert {c["result"]["comment"] for c in before["data"]["communications"]} == {
        "перезвонить вечером", "клиент в отпуске до понедельника"}

    major = int(await db.fetchval("SHOW server_version_num")) // 10000
    env = {**os.environ, "PG_BIN": client_bin(major)}
    dump = ARTIFACTS / unique("backup-") / "tm.dump"
    dump.parent.mkdir(parents=True)
    name = unique("tm_restored_")
    restored_url = with_database(services.database_url, name)
    try:
        for command in ([str(REPO / "deploy" / "backup.sh"), services.database_url, str(dump)],
                        [str(REPO / "deploy" / "restore.sh"), str(dump), restored_url]):
            done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True,
                                           timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr

        restored = start_web(DATABASE_URL=restored_url, REDIS_KEY_PREFIX=unique("tmrestored:") + ":")
        token = await login(http, restored.url, op)  # the operator's account and password came back
        after = (await http.get(f"{restored.url}/api/arm/v1/listCommunications", headers=bearer(token))).json()
        assert after["data"] == before["data"]  # the same rework list, drafts and comments included
        restored.stop()
    finally:
        admin = await asyncpg.connect(services.admin_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
