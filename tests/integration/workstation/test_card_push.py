"""The card reaches the right operator's sockets at once; resume by seq; duplicates and disorder are harmless."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import websockets

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task, xadd


async def test_card_from_the_stream_reaches_only_its_operator(http, web, db, make_user, services):
    alice, bob = await make_user("operator"), await make_user("operator")
    alice_token, bob_token = await login(http, web[0], alice), await login(http, web[0], bob)
    alice_ws = await Socket.open(web[1], alice_token)
    alice_tab2 = await Socket.open(web[0], alice_token)
    bob_ws = await Socket.open(web[0], bob_token)
    assert alice_ws.hello["type"] == "HELLO_OK"
    start_seq = alice_ws.hello["data"]["lastSeq"]
    task = await seed_task(db)

    await xadd(services.redis_url, services.redis_prefix, event("CALL_STARTED", alice.id, task, unique("call-")))
    frame = await alice_ws.next()
    assert frame["type"] == "CLIENT_CARD_READY"
    assert frame["seq"] == start_seq + 1
    assert (await alice_tab2.next())["seq"] == start_seq + 1  # every tab of the operator
    card = frame["data"]["clientCard"]
    info = card["clientInfo"]
    assert info["phone"] == task["phone"]
    assert info["fullNameRu"] == {"name": "Шахноза", "lastName": "Ибрагимова", "middleName": "Рустамовна"}
    assert info["fullNameEn"] == {"name": "Shakhnoza", "lastName": "Ibragimova"}
    assert info["citizenship"] == "Узбекистан" and info["birthDate"] == "12.05.1995"
    assert info["age"] >= 31
    current = card["currentCommunication"]
    assert current["id"] == frame["data"]["communicationId"]
    assert current["campaign"] == {"displayName": task["campaign"], "description": "Предложите завершить заявку"}
    assert current["callPhone"] == task["phone"]
    assert current["operator"] == {"name": "Тест", "lastName": "Тестов"}
    assert len(current["time"]) == 16 and current["time"][2] == "."
    product = card["productList"][0]
    assert product["requestedAmount"] == 2500000 and product["approvedAmount"] == 2000000
    assert product["statusDict"] == {"dictionaryKey": "scored", "dictionaryValue": "Скоринг пройден"}
    assert product["startTime"] == "20.11.2026 12:45"  # Moscow time
    assert product["term"] == 21 and product["grace"] == 7 and product["current"] is True
    assert product["interestRate"] == 80
    assert product["filling"][0]["errors"][0]["advice"] == "Дождитесь фокусировки камеры"
    assert card["history"] == []

    assert await bob_ws.silent(1.0)  # the other operator sees nothing
    assert current["draftVersion"] == 0
    rest = await http.get(f"{web[0]}/api/arm/v1/getClientCard", headers=bearer(alice_token))
    assert rest.json() == {"status": "OK", "data": {"clientCard": card, "lastSeq": start_seq + 1}}
    none = await http.get(f"{web[0]}/api/arm/v1/getClientCard", headers=bearer(bob_token))
    assert none.status_code == 200 and none.json() == {"status": "OK"}  # between calls: no card, no error
    assert int(none.headers["x-last-seq"]) == bob_ws.hello["data"]["lastSeq"]
    for ws in (alice_ws, alice_tab2, bob_ws):
        await ws.close()


async def test_full_call_over_push_then_history_on_the_next_call(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    ws = await Socket.open(web[1], token)
    task = await seed_task(db)
    call = unique("call-")

    started = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    assert started.status_code == 200 and started.json()["data"]["outcome"] == "APPLIED"
    card = (await ws.next())["data"]
    comm_id = card["communicationId"]
    states = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
    assert [s["state"] for s in states if s["operatorId"] == op.id] == ["ON_CALL"]

    assert (await push(http, web[1], event("CALL_ENDED", op.id, task, call))).status_code == 200
    ended = await ws.next()
    assert ended["type"] == "CALL_ENDED"
    deadline = datetime.fromisoformat(ended["data"]["resultDeadline"].replace("Z", "+00:00"))
    assert 55 < (deadline - datetime.now(UTC)).total_seconds() <= 60
    states = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
    assert [s["state"] for s in states if s["operatorId"] == op.id] == ["WRAP_UP"]
    rest = (await http.get(f"{web[0]}/api/arm/v1/getClientCard", headers=bearer(token))).json()["data"]
    assert rest["resultDeadlineEpochMs"] == ended["data"]["resultDeadlineEpochMs"]  # for a reloaded page

    body = {"communicationId": comm_id, "clientPhone": task["phone"],
            "communicationResult": {"reason": "Нет документов", "result": "Перезвонить", "comment": "завтра"}}
    assert (await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", json=body,
                            headers=bearer(token))).json() == {"status": "OK", "data": {"draftVersion": 1}}
    saved = await http.post(f"{web[1]}/api/arm/v1/saveCommunicationResult", json=body, headers=bearer(token))
    assert saved.json() == {"status": "OK"}
    frame = await ws.next()
    assert frame["type"] == "RESULT_SAVED" and frame["data"] == {"communicationId": comm_id, "completedLate": False}
    states = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
    assert [s["state"] for s in states if s["operatorId"] == op.id] == ["READY"]

    # The next call to the same phone shows this one in the history, with its result.
    second = await seed_task(db, task["phone"], with_product=False)
    await push(http, web[0], event("CALL_STARTED", op.id, second, unique("call-")))
    history = (await ws.next())["data"]["clientCard"]["history"]
    assert history[0]["id"] == comm_id
    assert history[0]["result"] == {"reason": "Нет документов", "result": "Перезвонить", "comment": "завтра"}
    await ws.close()


async def test_resume_after_a_dropped_socket_loses_and_duplicates_nothing(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[0], token)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    seen = (await ws.next())["seq"]
    await ws.close()

    await push(http, web[1], event("CALL_ENDED", op.id, task, call))
    other = await seed_task(db)
    await push(http, web[1], event("CALL_STARTED", op.id, other, unique("call-")))

    again = await Socket.open(web[1], token, last_seq=seen)
    frames = [await again.next(), await again.next()]
    assert [f["seq"] for f in frames] == [seen + 1, seen + 2]
    assert [f["type"] for f in frames] == ["CALL_ENDED", "CLIENT_CARD_READY"]
    assert await again.silent(1.2)  # no duplicates from the live path or the sweep
    assert "current" not in again.hello["data"]  # resuming: the events are the news, no snapshot
    fresh = await Socket.open(web[0], token)  # a new client without lastSeq gets no history...
    assert fresh.hello["data"]["lastSeq"] == seen + 2
    current = fresh.hello["data"]["current"]  # ...but the state as of that seq: the call in progress
    assert current["communicationId"] == frames[1]["data"]["communicationId"]
    assert current["clientCard"] == frames[1]["data"]["clientCard"] and "resultDeadline" not in current
    assert await fresh.silent(0.8)
    await again.close()
    await fresh.close()


async def test_too_old_or_unknown_last_seq_is_told_to_resync(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_task(db)
    await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))
    await db.execute("DELETE FROM operator_events WHERE operator_id = $1", op.id)  # as retention would
    ws = await Socket.open(web[1], token, last_seq=0)
    frame = await ws.next()
    assert frame["type"] == "RESYNC" and frame["seq"] == 1
    await ws.close()
    ahead = await Socket.open(web[1], token, last_seq=99)
    assert (await ahead.next())["type"] == "RESYNC"
    await ahead.close()


async def test_duplicate_and_out_of_order_events_are_harmless(http, web, db, make_user, services):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[0], token)
    task = await seed_task(db)
    call = unique("call-")
    end = event("CALL_ENDED", op.id, task, call)
    start = event("CALL_STARTED", op.id, task, call)

    first = await push(http, web[1], end)  # the end arrives first
    assert first.json()["data"]["outcome"] == "APPLIED"
    frames = [await ws.next(), await ws.next()]
    assert [f["type"] for f in frames] == ["CLIENT_CARD_READY", "CALL_ENDED"]
    late_start = await push(http, web[1], start)
    assert late_start.json()["data"]["outcome"] == "IGNORED"
    dup = await push(http, web[0], end)
    assert dup.json()["data"]["outcome"] == "DUPLICATE"
    await xadd(services.redis_url, services.redis_prefix, start)  # and once more through the stream
    assert await ws.silent(1.5)
    count = await db.fetchval("SELECT count(*) FROM communications WHERE call_id = $1", call)
    assert count == 1
    await ws.close()


async def test_has_changes_polling(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    r = await http.get(f"{web[0]}/api/arm/v1/hasChanges", headers=bearer(token))
    assert r.json() == {"status": "OK", "data": {"hasChanges": False, "changes": []}}
    await push(http, web[0], event("CALL_STARTED", op.id, await seed_task(db), unique("call-")))
    r = await http.get(f"{web[1]}/api/arm/v1/hasChanges", headers=bearer(token))
    assert r.json()["data"] == {"hasChanges": True, "changes": ["CLIENT_CARD_READY"]}
    r = await http.get(f"{web[0]}/api/arm/v1/hasChanges", headers=bearer(token))
    assert r.json()["data"]["hasChanges"] is False


async def test_socket_of_a_revoked_session_closes_within_a_second(http, web, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    ws = await Socket.open(web[1], token)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await http.get(f"{web[0]}/api/arm/v1/logout", headers=bearer(token))
    frame = await ws.next(timeout=2)
    assert frame["type"] == "SESSION_ENDED"
    with pytest.raises(websockets.ConnectionClosed) as info:
        await ws.next(timeout=2)
    assert info.value.rcvd.code == 4401
    assert loop.time() - started < 1.0

    # Locked by an admin (no Pub/Sub message: the sweep notices).
    admin = bearer(await login(http, web[0], await make_user("admin")))
    token = await login(http, web[0], op)
    ws = await Socket.open(web[0], token)
    started = loop.time()
    await http.post(f"{web[1]}/api/admin/v1/operators/{op.id}/lock", headers=admin)
    assert (await ws.next(timeout=2))["type"] == "SESSION_ENDED"
    assert loop.time() - started < 1.0


async def test_socket_authentication_and_origin(http, web, make_user):
    url = web[0].replace("http://", "ws://") + "/api/arm/v1/ws"
    bad = await websockets.connect(url)
    await bad.send('{"type":"HELLO","token":"forged"}')
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await bad.recv()
    assert info.value.rcvd.code == 4401

    garbage = await websockets.connect(url)
    await garbage.send("not json")
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await garbage.recv()
    assert info.value.rcvd.code == 4400

    with pytest.raises(websockets.InvalidStatus) as status:
        await websockets.connect(url, origin="http://evil.example")
    assert status.value.response.status_code == 403
    token = await login(http, web[0], await make_user("operator"))
    host = web[0].removeprefix("http://")
    same_origin = await Socket.open(web[0], token, origin=f"http://{host}")
    assert same_origin.hello["type"] == "HELLO_OK"
    await same_origin.close()
