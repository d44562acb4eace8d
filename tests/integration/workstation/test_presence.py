"""Presence over HTTP and WebSocket: READY / PAUSED are the operator's choice, AWAY follows from no socket
for the grace period (across web processes), and an operator whose sessions end mid-call is freed with
the communication in rework."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task


async def _state(http, base, token):
    r = await http.get(f"{base}/api/arm/v1/operatorState", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def _wait_state(http, base, token, wanted, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await _state(http, base, token)
        if current["state"] == wanted:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"state {current} never became {wanted}")
        await asyncio.sleep(0.2)


async def test_ready_and_pause_are_the_operators_choice(http, web, db, make_user):
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[1], token)
    at_login = await _state(http, web[1], token)
    assert at_login["state"] == "READY" and at_login["reason"] is None and at_login["pendingPause"] is None
    assert abs(datetime.fromisoformat(at_login["since"].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(
        seconds=30)

    for body in ({"reason": "LUNCH"}, {}, {"reason": None}):
        bad = await http.post(f"{web[0]}/api/arm/v1/setPause", json=body, headers=bearer(token))
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["code"] == "VALIDATION_ERROR" and bad.json()["error"]["field"] == "reason"
    assert await ws.silent(0.3)

    paused = await http.post(f"{web[0]}/api/arm/v1/setPause", json={"reason": "BREAK"}, headers=bearer(token))
    assert paused.status_code == 200
    assert paused.json()["data"]["state"] == "PAUSED" and paused.json()["data"]["reason"] == "BREAK"
    frame = await ws.next()
    assert frame["type"] == "OPERATOR_STATE" and frame["data"] == paused.json()["data"]
    row = await db.fetchrow("SELECT state, reason, state_since FROM operator_states WHERE operator_id = $1", op.id)
    assert (row["state"], row["reason"]) == ("PAUSED", "BREAK")
    rows = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
    mine = next(r for r in rows if r["operatorId"] == op.id)
    assert (mine["state"], mine["reason"], mine["since"]) == ("PAUSED", "BREAK", paused.json()["data"]["since"])

    again = await http.post(f"{web[1]}/api/arm/v1/setPause", json={"reason": "BREAK"}, headers=bearer(token))
    assert again.json()["data"] == paused.json()["data"]  # nothing changed, not even since
    assert await ws.silent(0.5)
    training = (await http.post(f"{web[1]}/api/arm/v1/setPause", json={"reason": "TRAINING"},
                                headers=bearer(token))).json()["data"]
    assert (training["state"], training["reason"]) == ("PAUSED", "TRAINING")
    assert (await ws.next())["data"]["reason"] == "TRAINING"
    ready = await http.post(f"{web[0]}/api/arm/v1/setReady", headers=bearer(token))
    assert ready.status_code == 200 and ready.json()["data"]["state"] == "READY"
    assert (await ws.next())["data"]["state"] == "READY"
    assert (await http.post(f"{web[0]}/api/arm/v1/setReady", headers=supervisor)).status_code == 403

    # During a call a pause is only asked for: it begins once the call and its result are done.
    task = await seed_task(db)
    call = unique("call-")
    comm_id = (await push(http, web[0], event("CALL_STARTED", op.id, task, call))).json()["data"]["communicationId"]
    assert (await ws.next())["type"] == "CLIENT_CARD_READY"
    asked = (await http.post(f"{web[0]}/api/arm/v1/setPause", json={"reason": "TECHNICAL"},
                             headers=bearer(token))).json()["data"]
    assert (asked["state"], asked["reason"], asked["pendingPause"]) == ("ON_CALL", None, "TECHNICAL")
    assert (await ws.next())["data"] == asked
    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    assert (await ws.next())["type"] == "CALL_ENDED"
    assert (await _state(http, web[0], token))["state"] == "WRAP_UP"
    saved = await http.post(f"{web[1]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    assert (await ws.next())["type"] == "RESULT_SAVED"
    after = await ws.next()
    assert after["type"] == "OPERATOR_STATE"
    assert (after["data"]["state"], after["data"]["reason"], after["data"]["pendingPause"]) == (
        "PAUSED", "TECHNICAL", None)
    assert await db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "PAUSED"
    await ws.close()


async def test_no_socket_for_the_grace_period_makes_the_operator_away(http, db, make_user, start_web, shared_worker):
    # Two web processes with a short grace; the operator logs in on one and keeps a socket on the other.
    first = start_web(PRESENCE_GRACE_SECONDS="1.5")
    second = start_web(PRESENCE_GRACE_SECONDS="1.5")
    op = await make_user("operator")
    token = await login(http, first.url, op)
    ws = await Socket.open(second.url, token)
    await asyncio.sleep(4)  # well past the grace: the open socket keeps the operator present
    assert (await _state(http, first.url, token))["state"] == "READY"

    await ws.close()
    away = await _wait_state(http, first.url, token, "AWAY")
    assert away["reason"] is None
    events = await db.fetch("SELECT data FROM operator_events WHERE operator_id = $1 AND event_type = "
                            "'OPERATOR_STATE' ORDER BY seq", op.id)
    assert json.loads(events[-1]["data"])["state"] == "AWAY"  # logged for the socket that resumes

    ws = await Socket.open(first.url, token)  # coming back does not make the operator READY
    await asyncio.sleep(3)
    assert (await _state(http, second.url, token))["state"] == "AWAY"
    ready = await http.post(f"{second.url}/api/arm/v1/setReady", headers=bearer(token))
    assert ready.json()["data"]["state"] == "READY"
    await asyncio.sleep(3)  # and READY holds while the socket is open
    assert (await _state(http, second.url, token))["state"] == "READY"

    # A pause also gives way to AWAY when the socket is gone; the reason is what the operator chose.
    await http.post(f"{second.url}/api/arm/v1/setPause", json={"reason": "BREAK"}, headers=bearer(token))
    await ws.close()
    await _wait_state(http, first.url, token, "AWAY")


async def test_a_login_without_a_socket_becomes_away_unless_it_polls(http, db, make_user, start_web,
                                                                   shared_worker):
    short = start_web(PRESENCE_GRACE_SECONDS="1")
    op = await make_user("operator")
    token = await login(http, short.url, op)
    assert (await _state(http, short.url, token))["state"] == "READY"
    await _wait_state(http, short.url, token, "AWAY")

    # The seed's polling client has no socket: its hasChanges polls keep it present instead.
    poller = await make_user("operator")
    token = await login(http, short.url, poller)
    for _ in range(12):  # 3 s, three grace periods
        assert (await http.get(f"{short.url}/api/arm/v1/hasChanges", headers=bearer(token))).status_code == 200
        await asyncio.sleep(0.25)
    assert (await _state(http, short.url, token))["state"] == "READY"
    await _wait_state(http, short.url, token, "AWAY")  # it stopped polling


async def _end(how, http, web, db, op, token, admin):
    if how == "logout":
        assert (await http.get(f"{web[0]}/api/arm/v1/logout", headers=bearer(token))).status_code == 200
    elif how in ("end-sessions", "lock"):
        r = await http.post(f"{web[1]}/api/admin/v1/operators/{op.id}/{how}", headers=admin)
        assert r.status_code == 200, r.text
    else:  # every session lapses without a request: the worker notices
        await db.execute("UPDATE operator_sessions SET idle_expires_at = now() - interval '1 second' "
                         "WHERE operator_id = $1", op.id)


async def _offline(db, op):
    for _ in range(50):
        row = await db.fetchrow("SELECT state, communication_id FROM operator_states WHERE operator_id = $1", op.id)
        if row["state"] == "OFFLINE":
            return row
        await asyncio.sleep(0.2)
    raise AssertionError(f"operator still {row['state']}")


@pytest.mark.parametrize("how", ["logout", "end-sessions", "lock", "lapse"])
async def test_sessions_ending_mid_call_free_the_operator_and_rework_the_card(how, http, web, db, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[1], token)
    task = await seed_task(db)
    call = unique("call-")
    comm_id = (await push(http, web[0], event("CALL_STARTED", op.id, task, call))).json()["data"]["communicationId"]
    assert (await ws.next())["type"] == "CLIENT_CARD_READY"
    draft = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"comment": "перезвонить"}})
    assert draft.status_code == 200
    if how == "end-sessions":  # also inside the result window, not only on the call
        await push(http, web[0], event("CALL_ENDED", op.id, task, call))
        assert (await ws.next())["type"] == "CALL_ENDED"

    await _end(how, http, web, db, op, token, admin)
    state = await _offline(db, op)
    assert state["communication_id"] is None
    comm = await db.fetchrow("SELECT state, result_details FROM communications WHERE id = $1", comm_id)
    assert comm["state"] == "DRAFT" and json.loads(comm["result_details"]) == {"comment": "перезвонить"}
    versions = await db.fetch("SELECT kind, details FROM communication_result_versions WHERE communication_id = $1 "
                              "ORDER BY id", comm_id)
    assert versions[-1]["kind"] == "EXPIRED_TO_DRAFT"
    assert json.loads(versions[-1]["details"]) == {"comment": "перезвонить"}
    logged = [r["event_type"] for r in await db.fetch(
        "SELECT event_type FROM operator_events WHERE operator_id = $1 ORDER BY seq", op.id)]
    assert logged[-2:] == ["RESULT_WINDOW_EXPIRED", "REWORK_CHANGED"]

    if how == "lock":
        await http.post(f"{web[1]}/api/admin/v1/operators/{op.id}/unlock", headers=admin)
    token = await login(http, web[1], op)
    listed = (await http.get(f"{web[0]}/api/arm/v1/listCommunications", headers=bearer(token))).json()["data"]
    assert comm_id in [c["id"] for c in listed["communications"]]
    ws2 = await Socket.open(web[0], token)
    if how != "end-sessions":
        # The hang-up arrives after all: recorded, no error, nothing reopened, no countdown on the page.
        late = await push(http, web[1], event("CALL_ENDED", op.id, task, call))
        assert late.status_code == 200 and late.json()["data"]["outcome"] == "APPLIED"
        assert await ws2.silent(1.0)
        comm = await db.fetchrow("SELECT state, call_ended_at, result_deadline FROM communications WHERE id = $1",
                                 comm_id)
        assert comm["state"] == "DRAFT" and comm["call_ended_at"] is not None and comm["result_deadline"] is None
    assert await db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "READY"
    fixed = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Перезвонить"}})
    assert fixed.status_code == 200
    assert await db.fetchval("SELECT completed_late FROM communications WHERE id = $1", comm_id) is True
    await ws.close()
    await ws2.close()
