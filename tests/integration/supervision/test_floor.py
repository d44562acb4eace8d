"""What a supervisor sees on the floor: pushed as it happens, the same over REST, and only for supervisors."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import FloorSocket
from tests.integration.workstation.helpers import Socket, event, push, seed_task


def state_of(op_id: int, state: str):
    return lambda floor: (row := floor.operators.get(str(op_id))) is not None and row["state"] == state and row


async def test_a_supervisor_watches_an_operator_through_a_call(http, web, db, make_user):
    sup = await make_user("supervisor")
    floor = await FloorSocket.open(web[1], await login(http, web[0], sup))
    assert floor.hello["type"] == "HELLO_OK"
    assert floor.hello["data"]["role"] == "supervisor"
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ready = await floor.until(state_of(op.id, "READY"))
    assert ready["callsToday"] == 0 and ready["savedInWindowPct"] is None

    task = await seed_task(db)
    call = unique("call-")
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    comm_id = started.json()["data"]["communicationId"]
    on_call = await floor.until(state_of(op.id, "ON_CALL"))
    assert on_call["campaignName"] == task["campaign"]
    assert on_call["callStartedAt"] is not None
    on_call = await floor.until(lambda f: (r := f.operators[str(op.id)])["callsToday"] == 1 and r)
    assert on_call["lastScreenPopMs"] is not None and on_call["lastScreenPopMs"] >= 0

    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    wrap = await floor.until(state_of(op.id, "WRAP_UP"))
    assert wrap["wrapUpDeadline"] > wrap["callStartedAt"]

    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    done = await floor.until(lambda f: (r := f.operators[str(op.id)])["state"] == "READY"
                             and r["savedInWindowToday"] == 1 and r)
    assert done["savedInWindowPct"] == 100 and done["campaignName"] is None

    # The campaign's tile: its task was called today.
    tile = await floor.until(lambda f: next((c for c in f.campaigns.values() if c["name"] == task["campaign"]
                                             and c["doneToday"] == 1), None))
    assert tile["waiting"] == 0

    # REST says the same, as of its own seq.
    rest = (await http.get(f"{web[0]}/api/supervisor/v1/floor", headers=bearer(await login(http, web[0], sup))))
    assert rest.status_code == 200
    row = rest.json()["data"]["floor"]["operators"][str(op.id)]
    assert row["callsToday"] == 1 and row["savedInWindowToday"] == 1
    await floor.close()


async def test_resume_from_a_seq_and_resync_when_it_is_unknown(http, web, db, make_user):
    sup_token = await login(http, web[0], await make_user("supervisor"))
    first = await FloorSocket.open(web[0], sup_token)
    op = await make_user("operator")
    await login(http, web[0], op)
    await first.until(state_of(op.id, "READY"))
    seq = first.seq
    await first.close()

    await login(http, web[1], op)  # another login: nothing changes
    task = await seed_task(db)
    await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))
    await asyncio.sleep(1.0)

    resumed = await FloorSocket.open(web[1], sup_token, last_seq=seq)
    assert "floor" not in resumed.hello["data"]
    resumed.seq = seq
    resumed.floor = first.floor
    await resumed.until(state_of(op.id, "ON_CALL"))  # the missed deltas, in order (seq checked)
    assert all(f["type"] == "FLOOR_DELTA" for f in resumed.frames)
    await resumed.close()

    unknown = await FloorSocket.open(web[1], sup_token, last_seq=10**12)
    frame = await unknown.next()
    assert frame["type"] == "RESYNC"
    assert unknown.operator(op.id)["state"] == "ON_CALL"
    await unknown.close()


async def _refused(base: str, path: str, token: str) -> tuple[int, dict]:
    ws = await websockets.connect(base.replace("http://", "ws://") + path)
    await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
    error = json.loads(await asyncio.wait_for(ws.recv(), 5))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    return ws.close_code, error


async def test_only_supervisors_and_admins_watch_the_floor(http, web, make_user):
    op_token = await login(http, web[0], await make_user("operator"))
    code, error = await _refused(web[0], "/api/supervisor/v1/ws", op_token)
    assert code == 4403 and error["data"]["code"] == "ROLE_REQUIRED"
    assert (await http.get(f"{web[0]}/api/supervisor/v1/floor", headers=bearer(op_token))).status_code == 403
    assert (await http.get(f"{web[0]}/api/supervisor/v1/floor")).status_code == 401

    sup_token = await login(http, web[0], await make_user("supervisor"))
    code, error = await _refused(web[0], "/api/arm/v1/ws", sup_token)  # not the operator's channel
    assert code == 4403 and error["data"]["code"] == "ROLE_REQUIRED"

    admin = await FloorSocket.open(web[1], await login(http, web[0], await make_user("admin")))
    assert admin.hello["type"] == "HELLO_OK" and "operators" in admin.hello["data"]["floor"]
    await admin.close()


async def test_the_floor_socket_follows_the_floor_view_permission(http, web, make_user):
    """Admins decide who watches: an analyst granted floor.view is let in, a supervisor without it refused."""
    admin = bearer(await login(http, web[0], await make_user("admin")))
    roles = (await http.get(f"{web[0]}/api/admin/v1/permissions", headers=admin)).json()["data"]["roles"]
    analyst_token = await login(http, web[1], await make_user("analyst"))
    sup_token = await login(http, web[1], await make_user("supervisor"))
    code, _ = await _refused(web[1], "/api/supervisor/v1/ws", analyst_token)
    assert code == 4403
    try:
        for role, perms in (("analyst", [*roles["analyst"], "floor.view"]),
                            ("supervisor", [p for p in roles["supervisor"] if p != "floor.view"])):
            r = await http.put(f"{web[0]}/api/admin/v1/permissions/{role}", json={"permissions": perms},
                               headers=admin)
            assert r.status_code == 200, r.text
        analyst = await FloorSocket.open(web[1], analyst_token)
        assert analyst.hello["type"] == "HELLO_OK"
        await analyst.close()
        code, error = await _refused(web[1], "/api/supervisor/v1/ws", sup_token)
        assert code == 4403 and error["data"]["code"] == "ROLE_REQUIRED"
    finally:
        for role in ("analyst", "supervisor"):
            await http.put(f"{web[0]}/api/admin/v1/permissions/{role}", json={"permissions": roles[role]},
                           headers=admin)


async def test_a_supervisor_socket_closes_when_its_session_ends(http, web, make_user):
    token = await login(http, web[0], await make_user("supervisor"))
    floor = await FloorSocket.open(web[1], token)
    await http.get(f"{web[0]}/api/arm/v1/logout", headers=bearer(token))
    frame = await floor.until(lambda f: any(x["type"] == "SESSION_ENDED" for x in floor.frames), timeout=5)
    assert frame
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(floor.ws.recv(), 5)
    assert floor.ws.close_code == 4401


async def test_actions_reach_the_operator_and_are_audited(http, web, db, make_user):
    sup = await make_user("supervisor")
    headers = bearer(await login(http, web[0], sup))
    op = await make_user("operator")
    op_token = await login(http, web[0], op)
    ws = await Socket.open(web[1], op_token)

    paused = await http.post(f"{web[0]}/api/supervisor/v1/operators/{op.id}/pause", headers=headers,
                             json={"reason": "TRAINING"})
    assert paused.status_code == 200, paused.text
    body = paused.json()["data"]
    assert body["before"]["state"] == "READY" and body["after"]["state"] == "PAUSED"
    frame = await ws.next()
    assert frame["type"] == "OPERATOR_STATE" and frame["data"]["reason"] == "TRAINING"

    unpaused = await http.post(f"{web[0]}/api/supervisor/v1/operators/{op.id}/unpause", headers=headers)
    assert unpaused.json()["data"]["after"]["state"] == "READY"
    assert (await ws.next())["data"]["state"] == "READY"

    # Operators cannot act on each other; unknown and offline operators are refused with the field named.
    forbidden = await http.post(f"{web[0]}/api/supervisor/v1/operators/{op.id}/pause",
                                headers=bearer(op_token), json={"reason": "BREAK"})
    assert forbidden.status_code == 403
    missing = await http.post(f"{web[0]}/api/supervisor/v1/operators/{10**15}/unpause", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "OPERATOR_NOT_FOUND"
    offline = await make_user("operator")
    refused = await http.post(f"{web[0]}/api/supervisor/v1/operators/{offline.id}/pause", headers=headers,
                              json={"reason": "BREAK"})
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "operatorId"
    bad = await http.post(f"{web[0]}/api/supervisor/v1/operators/{op.id}/pause", headers=headers,
                          json={"reason": "NAP"})
    assert bad.status_code == 400

    ended = await http.post(f"{web[0]}/api/supervisor/v1/operators/{op.id}/endSessions", headers=headers)
    assert ended.status_code == 200
    assert ended.json()["data"]["after"] == {**ended.json()["data"]["after"], "state": "OFFLINE", "endedSessions": 1}
    assert (await ws.next())["type"] == "SESSION_ENDED"

    audit = (await http.get(f"{web[1]}/api/supervisor/v1/audit", headers=headers,
                            params={"operatorId": op.id})).json()["data"]
    assert [a["action"] for a in audit] == ["END_SESSIONS", "UNPAUSE", "PAUSE"]
    assert all(a["actorId"] == sup.id and a["clientAddr"] == "127.0.0.1" for a in audit)
    assert audit[2]["after"]["reason"] == "TRAINING"
    with pytest.raises(Exception, match="append-only"):
        await db.execute("UPDATE audit_log SET action = 'operator.pause' WHERE target_id = $1", str(op.id))
    with pytest.raises(Exception, match="append-only"):
        await db.execute("DELETE FROM supervisor_audit WHERE target_id = $1", op.id)
