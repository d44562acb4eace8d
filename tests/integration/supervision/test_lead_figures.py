"""A campaign's tile shows what its rules did today: leads through its cascade, rejected per filter, and the
recalls waiting (tasks queued again after a dial)."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import FloorSocket


async def test_a_tile_counts_the_cascade_and_the_recalls(http, web, db, make_user):
    campaign = await db.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("Правила "))
    version = await db.fetchval(
        """INSERT INTO campaign_rule_versions (campaign_id, version, config, data_streams)
           VALUES ($1, 1, '{}', '{}') RETURNING id""", campaign)
    imports = []
    for _ in range(2):
        imports.append(await db.fetchval(
            """INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash,
                                         size_bytes, state, finished_at)
               VALUES ('TEST', 'cli', 'x.csv', $1, 'csv', $2, 1, 'rejected', now()) RETURNING id""",
            unique("/tmp/x-"), unique("").ljust(64, "0")[:64]))
    for import_id in imports:
        await db.execute(
            """INSERT INTO cascade_runs (import_id, campaign_id, rules_version_id, stream, state)
               VALUES ($1, $2, $3, 'TEST', 'done')""", import_id, campaign, version)
        await db.executemany(
            "INSERT INTO cascade_counts (import_id, campaign_id, filter, outcome, n) VALUES ($1, $2, $3, $4, $5)",
            [(import_id, campaign, "PASSED", "PASSED", 10), (import_id, campaign, "BLACKLIST", "REJECTED", 3),
             (import_id, campaign, "AGE", "REJECTED", 2)])
    await db.execute(
        """INSERT INTO campaign_tasks (campaign_id, phone, task_time, attempts)
           VALUES ($1, '79990004401', now() + interval '1 hour', 1), ($1, '79990004402', now() + interval '1 hour', 2),
                  ($1, '79990004403', now() + interval '1 hour', 0)""", campaign)

    floor = await FloorSocket.open(web[0], await login(http, web[0], await make_user("supervisor")))
    # The tile may first show the campaign as it was between the inserts above; then all of it.
    tile = await floor.until(lambda f: (t := f.campaigns.get(str(campaign))) and t["waiting"] == 3 and t, timeout=10)
    assert tile["importedToday"] == 30
    assert tile["rejectedByFilter"] == {"BLACKLIST": 6, "AGE": 4}
    assert tile["recalls"] == 2 and tile["waiting"] == 3
    rest = (await http.get(f"{web[1]}/api/supervisor/v1/floor",
                           headers=bearer(await login(http, web[1], await make_user("admin"))))).json()
    assert rest["data"]["floor"]["campaigns"][str(campaign)]["recalls"] == 2
    await floor.close()
