"""The stale-client job creates one task per application and status episode however often it runs (and from
two workers at once); a new significant change starts a new episode. Two worker processes cascade an import
exactly once, even when one is killed (-9) in the middle."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from backend.campaigns.service import CampaignEntry
from backend.core.db import create_redis
from backend.rules.stale import StaleClients
from tests.harness import WebProcess, unique
from tests.integration.rules.helpers import make_campaign, make_import, settings_for, stream


async def test_stale_job_run_twice_creates_each_task_once(services, pool):
    campaign, _ = await make_campaign(pool, {"data-streams": [stream()], "calling-hours": {"from": "00:00",
                                                                                          "to": "23:59"}})
    settings = settings_for(services, STALE_CAMPAIGN_ID=str(campaign), STALE_DAYS="7",
                            STALE_STATUSES="registered,scored")
    redis = create_redis(settings)
    try:
        s = stream()
        old = datetime.now(UTC) - timedelta(days=9)
        await make_import(pool, s, [{"application_status": "registered"}, {"application_status": "scored"},
                                    {"application_status": "canceled"}], changed_at=old)
        await make_import(pool, s, [{"application_status": "registered"}],
                          changed_at=datetime.now(UTC) - timedelta(days=2))  # not stale yet
        mine = [r["application_no"] for r in await pool.fetch(
            "SELECT application_no FROM lead_snapshots WHERE stream = $1 ORDER BY changed_at, line_no", s)]
        jobs = [StaleClients(pool, redis, settings, CampaignEntry(redis, settings)) for _ in range(2)]
        created = await asyncio.gather(jobs[0].run(), jobs[1].run())  # two workers at once
        assert await jobs[0].run() == 0  # and again
        # (other tests' old snapshots in this database are stale too: each got its task once, like ours)
        tasks = await pool.fetch("SELECT id, application_no, client_info FROM campaign_tasks WHERE campaign_id = $1",
                                 campaign)
        assert len(tasks) == sum(created)
        ours = [t for t in tasks if t["application_no"] in mine]
        assert sorted(t["client_info"]["staleStatus"] for t in ours) == ["registered", "scored"]
        assert {t["application_no"] for t in ours} == set(mine[:2])
        episodes = await pool.fetch("SELECT * FROM stale_episodes WHERE campaign_id = $1", campaign)
        assert {e["campaign_task_id"] for e in episodes} == {t["id"] for t in tasks}

        # the application changes significantly and stays another 7 days: a new episode, a new task
        app = ours[0]["application_no"]
        await make_import(pool, s, [{"application_no": app, "application_status": "scored"}],
                          changed_at=datetime.now(UTC) - timedelta(days=8))
        assert await jobs[1].run() == 1
        assert await jobs[0].run() == 0
    finally:
        await redis.aclose()


async def test_two_workers_cascade_an_import_exactly_once_through_a_kill(services, pool):
    s = stream()
    campaign, _ = await make_campaign(pool, {"data-streams": [s], "filters-order": ["AGE", "PHONE_TEMPLATE"],
                                             "min-age": 18, "phone-templates": [r"7\d{5}4\d{4}"],
                                             "calling-hours": {"from": "00:00", "to": "23:59"},
                                             "calling-days": [1, 2, 3, 4, 5, 6, 7]})
    leads = 30_000
    import_id = await make_import(pool, s, [{} for _ in range(leads)])
    env = services.web_env(CASCADE_STREAMS=s, CASCADE_BATCH_SIZE="500", CASCADE_LEASE_SECONDS="2",
                           CASCADE_POLL_SECONDS="0.1", LEADS_DIR="", STALE_CAMPAIGN_ID="0")
    workers = [WebProcess(env, unique("cascade-"), module="backend.worker") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = await pool.fetchval("SELECT cursor_line FROM cascade_runs WHERE import_id = $1", import_id)
            if done and done > 5_000:
                break
            await asyncio.sleep(0.05)
        owner, state = await pool.fetchrow("SELECT lease_owner, state FROM cascade_runs WHERE import_id = $1",
                                           import_id)
        assert state == "pending", "the run must still be going when a worker dies"
        victim = next((w for w in workers if owner and f"-{w.proc.pid}-" in owner), workers[0])
        victim.kill()  # mid-run: its batch in flight is rolled back, its lease lapses, the other takes over
        while time.monotonic() < deadline + 60:
            if await pool.fetchval("SELECT state FROM cascade_runs WHERE import_id = $1", import_id) == "done":
                break
            await asyncio.sleep(0.1)
        run = await pool.fetchrow("SELECT * FROM cascade_runs WHERE import_id = $1", import_id)
        assert run["state"] == "done" and run["passed"] + run["rejected"] == leads
        assert await pool.fetchval("SELECT count(*) FROM cascade_paths WHERE import_id = $1", import_id) == leads
        assert await pool.fetchval("SELECT count(*) FROM campaign_tasks WHERE campaign_id = $1", campaign) == leads
        counts = await pool.fetchval("SELECT sum(n) FROM cascade_counts WHERE import_id = $1", import_id)
        assert counts == leads
    finally:
        for w in workers:
            w.stop()
