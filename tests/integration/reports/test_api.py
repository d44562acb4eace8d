"""The reports API over HTTP: who may read it, the CSV export (streamed in chunks, UTF-8 BOM, `;` with decimal
commas, no formulas), the operator's own statistics (never another's), and what the workstation now records
for reports (the result's outcome, when a communication went to rework)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

from backend.core.db import create_redis
from backend.reports.aggregator import refresh
from backend.workstation.service import Workstation
from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.reports.helpers import MSK, Call, call, campaign, local, task
from tests.integration.rules.helpers import make_campaign, settings_for
from tests.integration.rules.test_after_call import _save, _task_on_call, morning_zone, rules


async def test_reports_need_an_analyst_supervisor_or_admin(http, web, make_user):
    for role, status in (("analyst", 200), ("supervisor", 200), ("admin", 200), ("operator", 403)):
        token = await login(http, web[0], await make_user(role))
        response = await http.get(f"{web[0]}/api/reports/v1/kpis", params={"groupBy": "campaign"},
                                  headers=bearer(token))
        assert response.status_code == status, (role, response.text)
    assert (await http.get(f"{web[0]}/api/reports/v1/kpis")).status_code == 401
    analyst = await login(http, web[0], await make_user("analyst"))
    bad = await http.get(f"{web[0]}/api/reports/v1/kpis", params={"from": "2025-03-10", "to": "2025-03-01"},
                         headers=bearer(analyst))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "REPORT_PERIOD_INVALID"
    odd = await http.get(f"{web[0]}/api/reports/v1/kpis", params={"from": "0001-01-01"}, headers=bearer(analyst))
    assert odd.status_code == 400 and odd.json()["error"]["field"] == "from"
    own = await http.get(f"{web[0]}/api/arm/v1/myStats", headers=bearer(analyst))
    assert own.status_code == 403  # an operator's own page, operators only


async def test_csv_export_streams_in_chunks_with_bom_and_semicolons(http, web, pool, make_user):
    op = await make_user("operator")
    cid = await campaign(pool)
    await pool.execute("UPDATE campaigns SET name = $2 WHERE id = $1", cid, unique("=cmd"))
    start = local("2025-04-01 09:00:00")
    tasks = [(await task(pool, cid))[0] for _ in range(3)]
    rows = [Call(op.id, tasks[i % 3], start + timedelta(seconds=i), 30.5) for i in range(6000)]  # > one chunk
    async with pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO communications (campaign_task_id, operator_id, state, result_details, call_started_at,
                                          call_ended_at, fixed_at, outcome)
               VALUES ($1, $2, 'FIXED', '{"result": "R"}', $3::timestamptz, $3::timestamptz + interval '30.5 seconds',
                       $3::timestamptz + interval '40.5 seconds', 'SUCCESS')""",
            [(c.task, c.operator, c.started) for c in rows])
    token = await login(http, web[0], await make_user("analyst"))
    chunks: list[bytes] = []
    params = {"kind": "communications", "sep": ";", "from": "2025-04-01", "to": "2025-04-01", "campaignId": cid}
    async with http.stream("GET", f"{web[0]}/api/reports/v1/export.csv", params=params,
                           headers=bearer(token)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        assert "content-length" not in response.headers  # streamed, not buffered
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    body = b"".join(chunks)
    assert len(chunks) > 3  # arrived in pieces (each about 64 KiB)
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:3] == ["id", "started", "ended"] and len(table) == 6001
    first = dict(zip(table[0], table[1], strict=True))
    assert first["started"] == "2025-04-01 09:00:00" and first["talk_seconds"] == "30,5"
    assert first["campaign"].startswith("'=")  # never a formula in Excel
    await refresh(pool, margin_seconds=60)
    kpis = await http.get(f"{web[0]}/api/reports/v1/export.csv", headers=bearer(token), params={
        "kind": "kpis", "groupBy": "day", "from": "2025-04-01", "campaignId": cid})
    lines = kpis.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("key,label,calls,") and lines[1].startswith("2025-04-01,2025-04-01,6000,")


async def test_an_operator_sees_only_their_own_statistics(http, web, pool, make_user):
    me, other = await make_user("operator"), await make_user("operator")
    cid = await campaign(pool)
    now = datetime.now(UTC)
    for op, n in ((me, 2), (other, 5)):
        for _ in range(n):
            t, _ = await task(pool, cid)
            await call(pool, Call(op.id, t, now - timedelta(minutes=5), 60, saved_after=10, outcome="SUCCESS"))
    t, _ = await task(pool, cid)
    await call(pool, Call(other.id, t, now - timedelta(minutes=3), 20, expired=True))  # other's rework
    token = await login(http, web[0], me)
    response = await http.get(f"{web[1]}/api/arm/v1/myStats", headers=bearer(token))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["today"] == {"calls": 2, "avgTalkSeconds": 60.0, "inWindow": 2, "inWindowRate": 1.0}
    assert data["week"]["calls"] == 2 and data["reworkPending"] == 0
    # No parameter can name another operator: the id comes from the token.
    forged = await http.get(f"{web[1]}/api/arm/v1/myStats", params={"operatorId": other.id}, headers=bearer(token))
    assert forged.json()["data"]["today"]["calls"] == 2
    theirs = await http.get(f"{web[1]}/api/arm/v1/myStats", headers=bearer(await login(http, web[0], other)))
    assert theirs.json()["data"]["today"]["calls"] == 6 and theirs.json()["data"]["reworkPending"] == 1


async def test_the_workstation_records_outcome_and_rework_time(http, web, pool, services, make_user):
    zone = morning_zone()
    cid, version = await make_campaign(pool, rules(zone))
    op = await make_user("operator")
    token = await login(http, web[0], op)
    _, comm, client = await _task_on_call(http, web, pool, op, version, cid)
    saved = await _save(http, web[0], token, comm, client, result="REACHED", reason="AGREED")
    assert saved.status_code == 200, saved.text
    assert await pool.fetchval("SELECT outcome FROM communications WHERE id = $1", comm) == "SUCCESS"

    _, late, _ = await _task_on_call(http, web, pool, op, version, cid)
    await pool.execute("UPDATE communications SET result_deadline = now() - interval '1 second' WHERE id = $1", late)
    settings = settings_for(services)
    redis = create_redis(settings)
    try:
        await Workstation(pool, redis, settings).expire_due()
    finally:
        await redis.aclose()
    row = await pool.fetchrow("SELECT state, expired_at FROM communications WHERE id = $1", late)
    assert row["state"] == "DRAFT" and row["expired_at"] is not None
    assert abs((row["expired_at"] - datetime.now(UTC)).total_seconds()) < 60


async def test_the_worker_keeps_the_aggregate_up_to_date(http, web, pool, make_user):
    """No one calls refresh here: the shared worker's pass (every REPORTS_REFRESH_SECONDS) brings a new call in."""
    op = await make_user("operator")
    cid = await campaign(pool)
    t, _ = await task(pool, cid)
    await call(pool, Call(op.id, t, datetime.now(UTC) - timedelta(minutes=1), 30, saved_after=5, outcome="SUCCESS"))
    token = await login(http, web[0], await make_user("analyst"))
    day = datetime.now(MSK).date().isoformat()
    for _ in range(120):
        response = await http.get(f"{web[0]}/api/reports/v1/kpis", headers=bearer(token), params={
            "groupBy": "operator", "campaignId": cid, "from": day, "to": day})
        if response.json()["data"]["total"]["calls"] == 1:
            break
        await asyncio.sleep(0.5)
    data = response.json()["data"]
    assert data["total"]["calls"] == 1 and data["total"]["successes"] == 1
    assert [r["key"] for r in data["rows"]] == [str(op.id)]
