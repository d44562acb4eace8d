"""Each KPI against hand-computed values on generated data: a call spanning midnight counts on the day it
started, a result saved 59.9 s after the end is inside the window, a rework completed the next day counts
with its call's day, and days are cut in the operators' zone (Moscow, UTC+3), not in UTC."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend.reports import service
from backend.reports.aggregator import refresh
from tests.integration.reports.helpers import MSK, Call, call, campaign, local, task, team

D = date(2025, 3, 10)  # a Monday


@pytest.fixture(scope="module")
async def data(pool, make_user):
    o1, o2 = await make_user("operator"), await make_user("operator")
    cid = await campaign(pool)
    team_id = await team(pool, o1.id)
    t1, p1 = await task(pool, cid, segment="pioneer")
    t2, _ = await task(pool, cid, client=p1, segment="repeater")  # the same client again, another task
    t3, p3 = await task(pool, cid, segment="pioneer")
    t4, _ = await task(pool, cid)
    t5, _ = await task(pool, cid)
    # c1: 120 s talk, saved 30.1 s after: in the window. SUCCESS.
    await call(pool, Call(o1.id, t1, local("2025-03-10 10:00:00"), 120, saved_after=30.1, result="AGREED",
                          outcome="SUCCESS"))
    # c2: 60 s talk, saved at 59.9 s: still inside the 60 s window. REFUSAL.
    await call(pool, Call(o1.id, t2, local("2025-03-10 10:20:00"), 60, saved_after=59.9, result="DECLINED",
                          outcome="REFUSAL"))
    # c3: starts 23:59, ends 00:01 the next day (spans midnight); the window expires, the rework is completed
    # the next day at 09:00. Counts on D, with all its talk time.
    await call(pool, Call(o1.id, t3, local("2025-03-10 23:59:00"), 120, expired=True,
                          fixed_at=local("2025-03-11 09:00:00"), result="NOANSWER", outcome="NO_ANSWER"))
    # c4: 02:30 Moscow = 23:30 UTC the day before: D in the operators' zone. Expired, never completed.
    await call(pool, Call(o2.id, t4, local("2025-03-10 02:30:00"), 40, expired=True))
    # c5: 00:30 Moscow on D+1 = 21:30 UTC on D: not D.
    await call(pool, Call(o2.id, t5, local("2025-03-11 00:30:00"), 10, saved_after=5, result="BUSY",
                          outcome="BUSY"))
    await refresh(pool, margin_seconds=60)
    return {"o1": o1.id, "o2": o2.id, "campaign": cid, "team": team_id, "p1": p1, "p3": p3}


def f(data, day_from=D, day_to=D, **rest):
    return service.filters(MSK, day_from, day_to, campaign_id=data["campaign"], **rest)


async def test_totals_of_the_day(pool, data):
    report = await service.kpi_report(pool, f(data), "total")
    k = report["total"]
    assert k["calls"] == 4  # c1..c4; c5 is on the next Moscow day
    assert k["talkSeconds"] == 340.0  # 120 + 60 + 120 (across midnight, all on D) + 40
    assert k["avgTalkSeconds"] == 85.0
    assert k["inWindow"] == 2 and k["inWindowRate"] == 0.5  # c1 and c2 (59.9 s is inside)
    assert k["wrapUpSeconds"] == 90.0 and k["avgWrapUpSeconds"] == 45.0  # 30.1 + 59.9
    assert k["avgHandleSeconds"] == 130.0  # 85 talk + 45 wrap-up
    assert k["expired"] == 2 and k["expiredRate"] == 0.5  # c3, c4
    assert k["reworkDone"] == 1  # c3, completed the next day, counts with its call's day
    # c3 expired at 00:02 (end 00:01 + 60 s), completed 09:00: 8 h 58 min.
    assert k["avgReworkSeconds"] == 8 * 3600 + 58 * 60
    assert (k["contacts"], k["successes"], k["conversion"]) == (2, 1, 0.5)
    assert (k["noAnswer"], k["busy"], k["missed"]) == (1, 0, 0)


async def test_days_are_cut_in_the_operators_zone(pool, data):
    rows = (await service.kpi_report(pool, f(data, D, D + timedelta(days=1)), "day"))["rows"]
    assert [(r["key"], r["calls"], r["busy"]) for r in rows] == [("2025-03-10", 4, 0), ("2025-03-11", 1, 1)]
    hours = (await service.kpi_report(pool, f(data), "hourOfDay"))["rows"]
    assert [(r["key"], r["calls"]) for r in hours] == [("2", 1), ("10", 2), ("23", 1)]


async def test_per_operator_team_and_outcome_filter(pool, data):
    by_op = {r["key"]: r for r in (await service.kpi_report(pool, f(data), "operator"))["rows"]}
    assert by_op[str(data["o1"])]["calls"] == 3 and by_op[str(data["o2"])]["calls"] == 1
    assert by_op[str(data["o2"])]["inWindowRate"] == 0.0 and by_op[str(data["o2"])]["conversion"] is None
    by_team = {r["key"]: r["calls"] for r in (await service.kpi_report(pool, f(data), "team"))["rows"]}
    assert by_team == {str(data["team"]): 3, "": 1}
    only_team = await service.kpi_report(pool, f(data, team_id=data["team"]), "total")
    assert only_team["total"]["calls"] == 3
    refusals = await service.kpi_report(pool, f(data, outcome="REFUSAL"), "total")
    assert refusals["total"]["calls"] == 1 and refusals["total"]["contacts"] == 1


async def test_outcome_distribution_by_taxonomy(pool, data):
    rows = await service.outcome_report(pool, f(data))
    assert sorted((r["result"], r["outcome"], r["calls"]) for r in rows) == [
        ("", "", 1), ("AGREED", "SUCCESS", 1), ("DECLINED", "REFUSAL", 1), ("NOANSWER", "NO_ANSWER", 1)]


async def test_heatmap_by_weekday_and_hour_and_segment(pool, data):
    cells = {(c["weekday"], c["hour"]): c for c in (await service.heatmap_report(pool, f(data), None))["cells"]}
    assert set(cells) == {(1, 2), (1, 10), (1, 23)}  # Monday, Moscow hours
    assert (cells[(1, 10)]["attempts"], cells[(1, 10)]["contacts"], cells[(1, 10)]["successes"]) == (2, 2, 1)
    assert cells[(1, 10)]["contactRate"] == 1.0 and cells[(1, 10)]["successRate"] == 0.5
    assert cells[(1, 23)]["contactRate"] == 0.0
    pioneers = await service.heatmap_report(pool, f(data), "pioneer")
    assert pioneers["segments"] == ["", "pioneer", "repeater"]
    assert {(c["hour"], c["attempts"], c["successes"]) for c in pioneers["cells"]} == {(10, 1, 1), (23, 1, 0)}


async def test_contactability_per_client(pool, data):
    rows = {r["phone"]: r for r in await service.contactability_report(pool, f(data), 100)}
    assert (rows[data["p1"]]["attempts"], rows[data["p1"]]["answered"], rows[data["p1"]]["contactability"]) == \
        (2, 2, 1.0)
    assert rows[data["p3"]]["contactability"] == 0.0


async def test_the_aggregate_follows_later_changes(pool, data):
    """A communication completed later (rework saved) moves its bucket's sums at the next pass."""
    comm = await pool.fetchval(
        """SELECT c.id FROM communications c JOIN campaign_tasks t ON t.id = c.campaign_task_id
            WHERE t.campaign_id = $1 AND c.state = 'DRAFT'""", data["campaign"])
    await pool.execute("""UPDATE communications SET state = 'FIXED', fixed_at = expired_at + interval '100 seconds',
                                 completed_late = true, outcome = 'SUCCESS', result_details = '{"result": "AGREED"}'
                           WHERE id = $1""", comm)
    await refresh(pool, margin_seconds=60)
    k = (await service.kpi_report(pool, f(data), "total"))["total"]
    assert k["reworkDone"] == 2 and k["successes"] == 2 and k["contacts"] == 3
    assert k["avgReworkSeconds"] == round((8 * 3600 + 58 * 60 + 100) / 2, 1)
    await refresh(pool, margin_seconds=60)  # a pass with nothing new changes nothing
    assert (await service.kpi_report(pool, f(data), "total"))["total"] == k


async def test_attempts_per_task_and_leads_per_filter(pool, data):
    cid = await campaign(pool)
    for attempts in (1, 2, 3):
        await task(pool, cid, attempts=attempts, close_reason="SUCCESS")
    await task(pool, cid, attempts=5, state="NEW")  # still open: not counted
    today = service.filters(MSK, None, None, campaign_id=cid)
    report = await service.campaign_report(pool, today)
    assert (report["tasksClosed"], report["attempts"], report["attemptsPerTask"]) == (3, 6, 2.0)
