"""The server holds the result window: expiry to DRAFT, rework completion, and every error case."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.harness import WebProcess, unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task


async def _call(http, base, op, task, call):
    await push(http, base, event("CALL_STARTED", op.id, task, call))
    await push(http, base, event("CALL_ENDED", op.id, task, call))


async def test_window_expires_on_the_server_and_rework_completes_it(http, web, db, make_user, start_web):
    short = start_web(RESULT_WINDOW_SECONDS="2")  # computes the deadline; the shared worker expires it
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[1], token)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, short.url, event("CALL_STARTED", op.id, task, call))
    comm_id = (await ws.next())["data"]["communicationId"]
    draft = {"communicationId": comm_id, "clientPhone": task["phone"],
             "communicationResult": {"result": "Перезвонить", "comment": "первый вариант"}}
    await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", json=draft, headers=bearer(token))
    draft["communicationResult"]["comment"] = "клиент просит перезвонить вечером"
    await http.post(f"{web[1]}/api/arm/v1/saveCommunicationDraft", json=draft, headers=bearer(token))
    await push(http, short.url, event("CALL_ENDED", op.id, task, call))
    ended = await ws.next()
    assert ended["data"]["windowSeconds"] == 2

    expired = await ws.next(timeout=4)  # the browser does nothing: the server acts
    assert expired["type"] == "RESULT_WINDOW_EXPIRED" and expired["data"] == {"communicationId": comm_id}
    rework = await ws.next()
    assert rework["type"] == "REWORK_CHANGED" and rework["data"]["reworkCount"] == 1

    listing = (await http.get(f"{web[0]}/api/arm/v1/listCommunications", headers=bearer(token))).json()
    [item] = listing["data"]["communications"]
    assert item["id"] == comm_id and item["doId"] == "34697463" and item["callPhone"] == task["phone"]
    assert item["result"] == {"result": "Перезвонить", "comment": "клиент просит перезвонить вечером",
                              "RESULT": "Перезвонить", "COMMENT": "клиент просит перезвонить вечером"}  # З–К and Е
    versions = await db.fetch(
        "SELECT kind, details->>'comment' AS comment FROM communication_result_versions "
        "WHERE communication_id = $1 ORDER BY id", comm_id)
    assert [(v["kind"], v["comment"]) for v in versions] == [
        ("DRAFT", "первый вариант"), ("DRAFT", "клиент просит перезвонить вечером"),
        ("EXPIRED_TO_DRAFT", "клиент просит перезвонить вечером")]

    card = await http.post(f"{web[1]}/api/arm/v1/getClientCardByCommunicationId", json={"communicationId": comm_id},
                           headers=bearer(token))
    assert card.json()["data"]["clientCard"]["currentCommunication"]["result"]["result"] == "Перезвонить"
    final = {**draft, "communicationResult": {"result": "Оформит заявку", "comment": "дозвонились"}}
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", json=final, headers=bearer(token))
    assert saved.json() == {"status": "OK"}
    frames = [await ws.next(), await ws.next()]
    assert frames[0]["type"] == "RESULT_SAVED" and frames[0]["data"]["completedLate"] is True
    assert frames[1]["type"] == "REWORK_CHANGED" and frames[1]["data"]["reworkCount"] == 0
    listing = (await http.get(f"{web[0]}/api/arm/v1/listCommunications", headers=bearer(token))).json()
    assert listing["data"]["communications"] == []
    row = await db.fetchrow("SELECT state, completed_late FROM communications WHERE id = $1", comm_id)
    assert (row["state"], row["completed_late"]) == ("FIXED", True)
    await ws.close()


async def test_expiry_survives_a_worker_crash_mid_window_and_fires_once(http, web, db, make_user, start_web,
                                                                        shared_worker, services):
    short = start_web(RESULT_WINDOW_SECONDS="2")
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[0], token)
    task = await seed_task(db)
    await _call(http, short.url, op, task, unique("call-"))
    comm_id = (await ws.next())["data"]["communicationId"]
    await ws.next()  # CALL_ENDED
    shared_worker[0].kill()  # crash mid-window: nobody is left to expire it
    await asyncio.sleep(2.5)
    assert await db.fetchval("SELECT state FROM communications WHERE id = $1", comm_id) == "NEW"
    shared_worker[0] = WebProcess(services.web_env(), "shared-restarted", module="backend.worker")
    shared_worker.append(WebProcess(services.web_env(), "second", module="backend.worker"))  # two compete
    expired = await ws.next(timeout=8)
    assert expired["type"] == "RESULT_WINDOW_EXPIRED"
    assert (await ws.next())["type"] == "REWORK_CHANGED"
    assert await ws.silent(1.0)
    fired = await db.fetchval("SELECT count(*) FROM communication_result_versions WHERE communication_id = $1 "
                              "AND kind = 'EXPIRED_TO_DRAFT'", comm_id)
    assert fired == 1
    shared_worker.pop().stop()
    await ws.close()


async def test_save_errors(http, web, db, make_user):
    op, other = await make_user("operator"), await make_user("operator")
    token, other_token = await login(http, web[0], op), await login(http, web[0], other)
    task = await seed_task(db)
    await _call(http, web[0], op, task, unique("call-"))
    comm_id = await db.fetchval("SELECT max(id) FROM communications WHERE operator_id = $1", op.id)
    url = f"{web[1]}/api/arm/v1/saveCommunicationResult"
    body = {"communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}}

    foreign = await http.post(url, json=body, headers=bearer(other_token))
    unknown = await http.post(url, json={**body, "communicationId": 10**12}, headers=bearer(token))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()  # no existence leak
    assert foreign.json()["error"]["field"] == "communicationId"
    foreign_card = await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId",
                                   json={"communicationId": comm_id}, headers=bearer(other_token))
    assert foreign_card.status_code == 404

    wrong_phone = await http.post(url, json={**body, "clientPhone": "70000000000"}, headers=bearer(token))
    assert wrong_phone.status_code == 400 and wrong_phone.json()["error"]["field"] == "clientPhone"
    bad_phone = await http.post(url, json={**body, "clientPhone": "+7999"}, headers=bearer(token))
    assert bad_phone.status_code == 400 and bad_phone.json()["error"]["field"] == "clientPhone"
    # (a result without a code is accepted as appendix К allows: tests/contract/test_items.py)
    too_long = await http.post(url, json={**body, "communicationResult": {"result": "x" * 5000}}, headers=bearer(token))
    assert too_long.status_code == 400 and too_long.json()["error"]["field"] == "communicationResult.result"

    assert (await http.post(url, json=body, headers=bearer(token))).status_code == 200
    again = await http.post(url, json=body, headers=bearer(token))
    assert again.status_code == 200  # the same save repeated is a success
    changed = await http.post(url, json={**body, "communicationResult": {"result": "Отказ"}}, headers=bearer(token))
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "RESULT_ALREADY_FIXED"
    draft = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", json=body, headers=bearer(token))
    assert draft.status_code == 409
    kept = await db.fetchval("SELECT result_details->>'result' FROM communications WHERE id = $1", comm_id)
    assert kept == "Согласен"

    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    assert (await http.post(url, json=body, headers=supervisor)).status_code == 403


async def test_push_endpoint_refuses_unsigned_stale_and_malformed_events(http, web, db, make_user):
    op = await make_user("operator")
    task = await seed_task(db)
    good = event("CALL_STARTED", op.id, task, unique("call-"))
    import json
    import time

    unsigned = await http.post(f"{web[0]}/api/telephony/v1/events", json=good)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "SIGNATURE_MISSING"
    forged = await push(http, web[0], good, secret="another-secret-another-secret-1234")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "SIGNATURE_INVALID"
    stale = await push(http, web[0], good, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "SIGNATURE_EXPIRED"
    malformed = await push(http, web[0], b'{"eventId": ')
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "MALFORMED_JSON"
    bad_phone = await push(http, web[0], {**good, "phone": "123"})
    assert bad_phone.status_code == 400 and bad_phone.json()["error"]["field"] == "phone"
    missing = await push(http, web[0], {k: v for k, v in good.items() if k != "callId"})
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "callId"
    unknown = await push(http, web[0], {**good, "campaignTaskId": 10**12})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "UNKNOWN_CAMPAIGN_TASK"
    # Nothing of the refused events was written, so the corrected event still applies.
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE event_id = $1", good["eventId"]) == 0
    ok = await push(http, web[0], good)
    assert ok.status_code == 200 and ok.json()["data"]["outcome"] == "APPLIED"
    assert json.loads(ok.text)["data"]["communicationId"] > 0
