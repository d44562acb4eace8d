"""After the call: the card offers the campaign's result taxonomy, a result outside it is a 400 naming the
level, and the outcome moves the task on (recall after the delay inside calling hours, until max attempts;
done; do-not-call). A phone put on the do-not-call list, or booked for another campaign, after its task passed
the cascade is never dialled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.rules.helpers import Driver, make_campaign, make_import, phone, stream
from tests.integration.workstation.helpers import event, push

TAXONOMY = [
    {"key": "REACHED", "label": "Дозвон", "outcome": "SUCCESS", "children": [
        {"key": "AGREED", "label": "Оформит заявку"},
        {"key": "REFUSED", "label": "Не планирует", "outcome": "REFUSAL",
         "children": [{"key": "OTHER_BANK"}, {"key": "OTHER"}]},
        {"key": "STOP", "label": "Просит не звонить", "outcome": "DO_NOT_CALL"}]},
    {"key": "NOT_REACHED", "label": "Недозвон", "outcome": "NO_ANSWER", "children": [
        {"key": "NO_PICKUP", "label": "Не берёт трубку"},
        {"key": "BUSY", "label": "Занято", "outcome": "BUSY"}]},
]


def morning_zone() -> ZoneInfo:
    """A zone where it is now between 06:00 and 12:59, so that a 15:00–16:00 window is later today there."""
    for offset in range(-12, 15):
        zone = ZoneInfo(f"Etc/GMT{'+' if offset <= 0 else '-'}{abs(offset)}")
        if 6 <= datetime.now(zone).hour <= 12:
            return zone
    raise AssertionError("some zone is in its morning")


def rules(zone: ZoneInfo, **extra):
    return {"data-streams": [stream()], "filters-order": [], "time-zone": zone.key,
            "calling-hours": {"from": "15:00", "to": "16:00"}, "max-attempts": 2,
            "recall-delay-minutes": {"no-answer": 60, "busy": 30}, "result-taxonomy": TAXONOMY, **extra}


async def _task_on_call(http, web, db, op, version: int, campaign: int, attempts: int = 1):
    """A task (decided under ``version``) whose call has started and ended: (task, communication, phone)."""
    client = phone()
    task = await db.fetchval(
        """INSERT INTO campaign_tasks (campaign_id, phone, rules_version_id, attempts, task_time, task_state)
           VALUES ($1, $2, $3, $4, now() + interval '1 day', 'IN_PROGRESS') RETURNING id""",
        campaign, client, version, attempts)
    ref = {"task": task, "phone": client}
    call = unique("call-")
    assert (await push(http, web[0], event("CALL_STARTED", op.id, ref, call))).status_code == 200
    assert (await push(http, web[0], event("CALL_ENDED", op.id, ref, call))).status_code == 200
    comm = await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call)
    return task, comm, client


async def _save(http, base, token, comm, client, **result):
    return await http.post(f"{base}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": client, "communicationResult": result})


async def test_results_follow_the_taxonomy_and_drive_the_next_step(http, web, pool, make_user):
    zone = morning_zone()
    campaign, version = await make_campaign(pool, rules(zone))
    op = await make_user("operator")
    token = await login(http, web[0], op)

    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    card = await http.post(f"{web[1]}/api/arm/v1/getClientCardByCommunicationId", json={"communicationId": comm},
                           headers=bearer(token))
    tree = card.json()["data"]["clientCard"]["resultTaxonomy"]
    assert [s["key"] for s in tree] == ["REACHED", "NOT_REACHED"]
    assert [c["key"] for c in tree[0]["children"][1]["children"]] == ["OTHER_BANK", "OTHER"]

    bad_status = await _save(http, web[0], token, comm, client, result="Согласен")
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["code"] == "RESULT_NOT_IN_TAXONOMY"
    assert bad_status.json()["error"]["field"] == "communicationResult.result"
    assert bad_status.json()["error"]["data"] == {"level": "status", "allowed": ["REACHED", "NOT_REACHED"]}
    bad_level1 = await _save(http, web[0], token, comm, client, result="REACHED", reason="NO_PICKUP")
    assert bad_level1.json()["error"]["field"] == "communicationResult.reason"
    assert bad_level1.json()["error"]["data"]["level"] == "level1"
    no_level2 = await _save(http, web[0], token, comm, client, result="REACHED", reason="REFUSED")
    assert no_level2.json()["error"]["field"] == "communicationResult.reasonDetail"
    assert no_level2.json()["error"]["data"] == {"level": "level2", "allowed": ["OTHER_BANK", "OTHER"]}
    assert await pool.fetchval("SELECT state FROM communications WHERE id = $1", comm) == "NEW"  # nothing written

    # no answer, first attempt of two: a recall after 60 minutes, moved into today's 15:00–16:00 window
    before = datetime.now(UTC)
    saved = await _save(http, web[0], token, comm, client, result="NOT_REACHED", reason="NO_PICKUP")
    assert saved.status_code == 200, saved.text
    row = await pool.fetchrow("SELECT task_state, task_time, close_reason, last_outcome FROM campaign_tasks "
                            "WHERE id = $1", task)
    window = datetime.combine(datetime.now(zone).date(), datetime.min.time(), zone).replace(hour=15)
    assert (row["task_state"], row["close_reason"], row["last_outcome"]) == ("NEW", None, "NO_ANSWER")
    assert row["task_time"] == window.astimezone(UTC) and row["task_time"] > before + timedelta(minutes=60)

    # the second attempt: busy, but the task has had its two attempts
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign, attempts=2)
    await _save(http, web[0], token, comm, client, result="NOT_REACHED", reason="BUSY")
    row = await pool.fetchrow("SELECT task_state, close_reason, last_outcome FROM campaign_tasks WHERE id = $1", task)
    assert dict(row) == {"task_state": "DONE", "close_reason": "MAX_ATTEMPTS", "last_outcome": "BUSY"}

    # success and refusal: done
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    await _save(http, web[0], token, comm, client, result="REACHED", reason="REFUSED", reasonDetail="OTHER_BANK")
    assert await pool.fetchval("SELECT close_reason FROM campaign_tasks WHERE id = $1", task) == "REFUSAL"
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    await _save(http, web[0], token, comm, client, result="REACHED", reason="AGREED", comment="ok")
    assert await pool.fetchval("SELECT close_reason FROM campaign_tasks WHERE id = $1", task) == "SUCCESS"

    # "do not call me": done, the phone is on the list for good, and the client's tasks in other campaigns are
    # withdrawn: one waiting closes, one already handed to telephony also gets its cancellation (DELETE) queued
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    other, _ = await make_campaign(pool, rules(zone))
    waiting, handed = [await pool.fetchval(
        """INSERT INTO campaign_tasks (campaign_id, phone, task_time, task_state)
           VALUES ($1, $2, now() + interval '1 day', $3)
           RETURNING id""", other, client, state) for state in ("NEW", "IN_PROGRESS")]
    await _save(http, web[0], token, comm, client, result="REACHED", reason="STOP")
    assert await pool.fetchval("SELECT close_reason FROM campaign_tasks WHERE id = $1", task) == "DO_NOT_CALL"
    entry = await pool.fetchrow("SELECT until, source FROM do_not_call WHERE phone = $1", client)
    assert entry["until"] is None and entry["source"] == "RESULT"
    rows = await pool.fetch("SELECT task_state, close_reason FROM campaign_tasks WHERE id = ANY($1) ORDER BY id",
                            [waiting, handed])
    assert [tuple(r) for r in rows] == [("DONE", "DO_NOT_CALL")] * 2
    assert await pool.fetchval("SELECT array_agg(campaign_task_id) FROM telephony_tasks WHERE task_type = 'DELETE' "
                               "AND campaign_task_id = ANY($1)", [waiting, handed]) == [handed]


async def test_a_campaign_without_taxonomy_keeps_free_text_results(http, web, pool, make_user):
    campaign, version = await make_campaign(pool, {"data-streams": [stream()]})
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    card = await http.post(f"{web[1]}/api/arm/v1/getClientCardByCommunicationId", json={"communicationId": comm},
                           headers=bearer(token))
    assert "resultTaxonomy" not in card.json()["data"]["clientCard"]
    assert (await _save(http, web[0], token, comm, client, result="Заполнит позже")).status_code == 200
    assert await pool.fetchval("SELECT task_state FROM campaign_tasks WHERE id = $1", task) == "DONE"


async def test_do_not_call_added_after_the_cascade_stops_the_dial(services, http, web, make_user):
    """The task passes the cascade (its first calling window is later today), the client is put on the list,
    the task falls due: the shared worker's hand-over closes it without a dial."""
    zone = morning_zone()
    config = rules(zone)
    driver = await Driver.start(services, config["data-streams"])
    try:
        campaign, _ = await make_campaign(driver.pool, config)
        client = phone()
        import_id = await make_import(driver.pool, config["data-streams"][0], [{"phone": client}])
        await driver.cascade.tick()
        [path] = await driver.paths(import_id, campaign)
        assert path["outcome"] == "PASSED" and path["task_state"] == "NEW" and path["task_time"] > datetime.now(UTC)

        admin = bearer(await login(http, web[0], await make_user("admin")))
        added = await http.post(f"{web[0]}/api/admin/v1/do-not-call", headers=admin,
                                json={"phone": client, "reason": "отозвал согласие"})
        assert added.status_code == 200
        task = path["campaign_task_id"]
        await driver.pool.execute("UPDATE campaign_tasks SET task_time = now() WHERE id = $1", task)
        for _ in range(100):
            row = await driver.pool.fetchrow("SELECT task_state, close_reason, attempts FROM campaign_tasks "
                                             "WHERE id = $1", task)
            if row["task_state"] != "NEW":
                break
            await asyncio.sleep(0.1)
        assert dict(row) == {"task_state": "DONE", "close_reason": "DO_NOT_CALL", "attempts": 0}
        assert await driver.pool.fetchval("SELECT count(*) FROM telephony_tasks WHERE campaign_task_id = $1",
                                          task) == 0
    finally:
        await driver.close()


async def test_booking_for_another_campaign_after_the_cascade_stops_the_dial(services, http, web, make_user):
    """Two clients pass the cascade (their first calling window is later today); then one is booked for
    another campaign and the other for this very campaign; both tasks fall due: the shared worker's hand-over
    closes the first without a dial (BOOKED) and dials the second (its own campaign's booking is no bar)."""
    zone = morning_zone()
    config = rules(zone)
    driver = await Driver.start(services, config["data-streams"])
    try:
        campaign, _ = await make_campaign(driver.pool, config)
        other, _ = await make_campaign(driver.pool, {**config, "data-streams": [stream()]})
        elsewhere, here = phone(), phone()
        import_id = await make_import(driver.pool, config["data-streams"][0], [{"phone": elsewhere}, {"phone": here}])
        await driver.cascade.tick()
        paths = {p["phone"]: p for p in await driver.paths(import_id, campaign)}
        assert all(p["outcome"] == "PASSED" and p["task_state"] == "NEW" for p in paths.values()), paths

        admin = bearer(await login(http, web[0], await make_user("admin")))
        until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        for client, booked_for in ((elsewhere, other), (here, campaign)):
            booked = await http.post(f"{web[0]}/api/admin/v1/bookings", headers=admin,
                                     json={"phone": client, "campaignId": booked_for, "until": until})
            assert booked.status_code == 200, booked.text
        tasks = {client: paths[client]["campaign_task_id"] for client in (elsewhere, here)}
        await driver.pool.execute("UPDATE campaign_tasks SET task_time = now() WHERE id = ANY($1::bigint[])",
                                  list(tasks.values()))
        for _ in range(100):
            rows = {r["id"]: r for r in await driver.pool.fetch(
                "SELECT id, task_state, close_reason, attempts FROM campaign_tasks WHERE id = ANY($1::bigint[])",
                list(tasks.values()))}
            if all(r["task_state"] != "NEW" for r in rows.values()):
                break
            await asyncio.sleep(0.1)
        stopped, dialled = rows[tasks[elsewhere]], rows[tasks[here]]
        assert (stopped["task_state"], stopped["close_reason"], stopped["attempts"]) == ("DONE", "BOOKED", 0)
        assert await driver.pool.fetchval("SELECT count(*) FROM telephony_tasks WHERE campaign_task_id = $1",
                                          tasks[elsewhere]) == 0
        assert dialled["attempts"] == 1 and dialled["close_reason"] != "BOOKED", dict(dialled)
        assert await driver.pool.fetchval("SELECT count(*) FROM telephony_tasks WHERE campaign_task_id = $1 "
                                          "AND task_type = 'ADD'", tasks[here]) == 1
    finally:
        await driver.close()


async def test_a_do_not_call_result_saved_while_the_phone_is_being_listed_is_saved(services, http, web, pool,
                                                                                     make_user):
    """The result locks its task and then needs the phone's list entry; an admin listing the same phone holds
    the entry and then needs the phone's tasks. PostgreSQL breaks the deadlock by rolling one back: the
    operator's save must still succeed (it was a 500 before), and so must the admin's listing."""
    zone = morning_zone()
    campaign, version = await make_campaign(pool, rules(zone))
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task, comm, client = await _task_on_call(http, web, pool, op, version, campaign)
    admin = await asyncpg.connect(services.database_url)
    try:
        listing = admin.transaction()
        await listing.start()
        await admin.execute("INSERT INTO do_not_call (phone, reason, source) VALUES ($1, 'asked', 'ADMIN')", client)
        save = asyncio.create_task(_save(http, web[0], token, comm, client, result="REACHED", reason="STOP"))
        await asyncio.sleep(0.3)  # the save holds its task and waits for the entry
        # The admin's withdrawal now wants the phone's tasks: a cycle, found after deadlock_timeout (1 s) by the
        # save's session, which waited first; its transaction is the one rolled back.
        await admin.execute("SELECT id FROM campaign_tasks WHERE phone = $1 FOR UPDATE", client)
        await listing.commit()
        saved = await asyncio.wait_for(save, 15)
    finally:
        await admin.close()
    assert saved.status_code == 200, saved.text
    assert await pool.fetchval("SELECT state FROM communications WHERE id = $1", comm) == "FIXED"
    row = await pool.fetchrow("SELECT task_state, close_reason FROM campaign_tasks WHERE id = $1", task)
    assert tuple(row) == ("DONE", "DO_NOT_CALL")
