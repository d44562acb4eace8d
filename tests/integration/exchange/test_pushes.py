"""The outcome half of the exchange: the push is written with the task's final state (transactional outbox)
and delivered at least once by the worker, signed, with a delivery id; retried while the receiver is down;
taken over when the worker dies mid-delivery; FAILED after the maximum age and re-sent by an admin."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.exchange.conftest import exchange_worker
from tests.integration.exchange.helpers import Exchange, eventually, make_campaign, phone, request_body
from tests.integration.workstation.helpers import event, push


async def _setup(http, web, make_user, sim, **receiver):
    name = unique("rcv-")
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = await make_campaign(http, web[0], admin)
    ex = await Exchange.create(http, web[0], admin, campaign_id=campaign, push_url=sim.push_url(name))
    sim.receiver(name, secret=ex.secret, **receiver)
    return name, admin, ex


async def _call_and_save(http, web, db, op, token, task_id: int, client_phone: str, **result):
    """A call of the task (call events as telephony pushes them) and the operator's result."""
    ref = {"task": task_id, "phone": client_phone}
    call = unique("call-")
    assert (await push(http, web[0], event("CALL_STARTED", op.id, ref, call))).status_code == 200
    assert (await push(http, web[0], event("CALL_ENDED", op.id, ref, call))).status_code == 200
    comm = await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call)
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": client_phone, "communicationResult": result})
    assert saved.status_code == 200, saved.text


async def test_a_saved_result_is_pushed_once_with_three_levels_even_if_the_receiver_is_down_for_a_while(
        http, web, worker, make_user, db, integrations_sim):
    name, _, ex = await _setup(http, web, make_user, integrations_sim, mode="error", error_status=503)
    op = await make_user("operator")
    token = await login(http, web[0], op)
    client_phone = phone()
    body = request_body(client_phone)
    task = int((await ex.send(body)).json()["taskID"])

    await _call_and_save(http, web, db, op, token, task, client_phone, result="REACHED", reason="NOT_PLANS",
                         reasonDetail="OTHER_BANK")
    # Written with the result, in its transaction: the outbox row exists as soon as the save answered.
    row = await db.fetchrow("SELECT state, delivery_id::text AS delivery_id FROM exchange_outbox "
                            "WHERE client_id = $1 AND request_id = $2", ex.client_id, body["requestID"])
    assert row is not None and row["state"] in ("PENDING", "DELIVERED")

    async def refused_twice():
        return len(integrations_sim.pushes(name)["pushes"]) >= 2
    await eventually(refused_twice)
    integrations_sim.receiver(name, mode="ok")

    async def accepted():
        return integrations_sim.pushes(name)["accepted"]
    assert await eventually(accepted) == [row["delivery_id"]]
    received = integrations_sim.pushes(name)["pushes"]
    assert {p["deliveryId"] for p in received} == {row["delivery_id"]}  # one logical delivery, tried again
    assert all(p["signatureValid"] for p in received)
    assert [int(p["attempt"]) for p in received] == list(range(1, len(received) + 1))
    pushed = received[-1]["body"]
    assert pushed == {**pushed, "requestID": (await ex.poll(body["requestID"])).json()["response"]["requestID"],
                      "replyUID": body["requestID"], "statusCode": "0", "taskID": str(task), "taskStatus": "3",
                      "taskExecType": "Ручной", "taskExecDescr": "Обработано",
                      "firstLevelClientReaction": "Дозвон",
                      "secondLevelClientReaction": "Дозвон - не планирует миграцию",
                      "thirdLevelClientReaction": "Перешел в другой банк", "closeReason": "REFUSAL"}
    assert len(pushed["taskCloseDate"]) == 10
    async def recorded():
        return await db.fetchrow("SELECT state, attempts FROM exchange_outbox WHERE delivery_id = $1::uuid "
                                 "AND state = 'DELIVERED'", row["delivery_id"])
    done = await eventually(recorded)
    assert done["attempts"] == len(received)
    assert await db.fetchval("SELECT count(*) FROM exchange_outbox WHERE client_id = $1", ex.client_id) == 1
    polled = (await ex.poll(body["requestID"])).json()
    assert polled["outcome"] == pushed and polled["delivery"] == "DELIVERED" and polled["taskState"] == "DONE"


async def test_a_worker_killed_mid_delivery_leaves_the_push_to_the_next(
        http, web, worker, services, make_user, db, integrations_sim):
    name, _, ex = await _setup(http, web, make_user, integrations_sim, mode="hang")
    op = await make_user("operator")
    token = await login(http, web[0], op)
    client_phone = phone()
    body = request_body(client_phone)
    task = int((await ex.send(body)).json()["taskID"])
    # No answer with attempts left: the task is recalled (NEW again), not final, so nothing is pushed.
    await _call_and_save(http, web, db, op, token, task, client_phone, result="NOT_REACHED", reason="NO_PICKUP")
    assert await db.fetchval("SELECT task_state FROM campaign_tasks WHERE id = $1", task) == "NEW"
    assert await db.fetchval("SELECT count(*) FROM exchange_outbox WHERE client_id = $1", ex.client_id) == 0
    await _call_and_save(http, web, db, op, token, task, client_phone, result="REACHED", reason="PLANS",
                         reasonDetail="CONSULTED")

    async def in_flight():
        return integrations_sim.pushes(name)["pushes"]
    await eventually(in_flight, every=0.02)
    worker[0].kill()  # kill -9 while its POST hangs: the claim is never recorded either way
    integrations_sim.receiver(name, mode="ok")
    worker[0] = exchange_worker(services, unique("exchange-"))

    async def accepted():
        return integrations_sim.pushes(name)["accepted"]
    [delivery] = await eventually(accepted)

    async def recorded():
        return await db.fetchval("SELECT delivery_id::text FROM exchange_outbox WHERE client_id = $1 "
                                 "AND state = 'DELIVERED'", ex.client_id)
    assert await eventually(recorded) == delivery
    received = integrations_sim.pushes(name)["pushes"]
    assert len(received) >= 2 and {p["deliveryId"] for p in received} == {delivery}
    pushed = received[-1]["body"]
    assert pushed["taskStatus"] == "3" and pushed["closeReason"] == "SUCCESS"
    assert [pushed[f"{n}LevelClientReaction"] for n in ("first", "second", "third")] == [
        "Дозвон", "Дозвон - планирует миграцию", "Проконсультирован по миграции"]


async def test_a_push_never_answered_fails_and_an_admin_sends_it_again(
        http, web, worker, make_user, db, integrations_sim):
    name, admin, ex = await _setup(http, web, make_user, integrations_sim, mode="error")
    first = request_body(phone())
    await ex.send(first)
    await ex.send({**request_body(first["phone"]), "clientIdList": first["clientIdList"]})  # re-entry cancels #1

    async def failed():
        r = await http.get(f"{web[0]}/api/admin/v1/integration-deliveries?state=FAILED&clientId={ex.client_id}",
                           headers=admin)
        return r.json()["data"]
    [gone] = await eventually(failed, timeout=30)
    assert gone["requestId"] == first["requestID"] and gone["attempts"] >= 2 and gone["lastStatus"] == 500
    assert gone["body"]["taskStatus"] == "5" and gone["body"]["closeReason"] == "REENTERED"
    assert gone["body"]["taskExecType"] == "Технический"

    integrations_sim.receiver(name, mode="ok")
    again = await http.post(f"{web[0]}/api/admin/v1/integration-deliveries/{gone['id']}/resend", headers=admin)
    assert again.status_code == 200 and again.json()["data"]["state"] == "PENDING"

    async def accepted():
        return integrations_sim.pushes(name)["accepted"]
    assert await eventually(accepted) == [gone["deliveryId"]]
    pending = await http.post(f"{web[0]}/api/admin/v1/integration-deliveries/{gone['id']}/resend", headers=admin)
    assert pending.status_code in (200, 409)
    missing = await http.post(f"{web[0]}/api/admin/v1/integration-deliveries/999999999/resend", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "DELIVERY_NOT_FOUND"


async def test_a_task_past_its_validity_is_closed_and_pushed_as_not_processed(
        http, web, worker, make_user, db, integrations_sim):
    name, _, ex = await _setup(http, web, make_user, integrations_sim)
    body = request_body(phone())
    task = int((await ex.send(body)).json()["taskID"])
    # Not handed over yet (as if outside calling hours), and its validity is over.
    await db.execute("UPDATE campaign_tasks SET task_state = 'NEW', task_time = now() + interval '1 day' "
                     "WHERE id = $1", task)
    await db.execute("UPDATE exchange_requests SET expires_at = now() WHERE client_id = $1", ex.client_id)

    async def accepted():
        return integrations_sim.pushes(name)["pushes"]
    [received] = await eventually(accepted)
    pushed = received["body"]
    assert pushed["taskStatus"] == "5" and pushed["closeReason"] == "EXPIRED"
    assert pushed["firstLevelClientReaction"] == "Не обработано"
    assert pushed["secondLevelClientReaction"] == "Не взята в работу"
    assert await db.fetchval("SELECT close_reason FROM campaign_tasks WHERE id = $1", task) == "EXPIRED"
    await asyncio.sleep(0.5)
    assert len(integrations_sim.pushes(name)["pushes"]) == 1
    assert json.loads(json.dumps(pushed))["replyUID"] == body["requestID"]


async def test_a_client_cancels_its_request_and_hears_it_as_not_processed(
        http, web, worker, make_user, db, integrations_sim):
    name, _, ex = await _setup(http, web, make_user, integrations_sim)
    body = request_body(phone())
    task = int((await ex.send(body)).json()["taskID"])
    await db.execute("UPDATE campaign_tasks SET task_time = now() + interval '1 day' WHERE id = $1", task)

    cancelled = await ex.http.delete(f"{ex.base}/api/integration/v1/communication-requests/{body['requestID']}",
                                     headers={"x-api-key": ex.api_key})
    assert cancelled.status_code == 200, cancelled.text
    state = cancelled.json()
    assert state["taskState"] == "DONE" and state["outcome"]["taskStatus"] == "5"
    assert state["outcome"]["closeReason"] == "CANCELLED"
    assert state["outcome"]["secondLevelClientReaction"] == "Задача отменена"

    async def received():
        return integrations_sim.pushes(name)["accepted"]
    assert len(await eventually(received)) == 1
    again = await ex.http.delete(f"{ex.base}/api/integration/v1/communication-requests/{body['requestID']}",
                                 headers={"x-api-key": ex.api_key})
    assert again.status_code == 200 and again.json()["outcome"] == state["outcome"]

    no_task = request_body()  # statusCode 1: nothing to cancel
    assert (await ex.send(no_task)).json()["statusCode"] == "1"
    r = await ex.http.delete(f"{ex.base}/api/integration/v1/communication-requests/{no_task['requestID']}",
                             headers={"x-api-key": ex.api_key})
    assert r.status_code == 409 and r.json()["error"]["code"] == "REQUEST_HAS_NO_TASK"
    r = await ex.http.delete(f"{ex.base}/api/integration/v1/communication-requests/nope",
                             headers={"x-api-key": ex.api_key})
    assert r.status_code == 404 and r.json()["error"]["code"] == "REQUEST_NOT_FOUND"


async def test_a_phone_put_on_do_not_call_is_not_dialled_and_the_client_hears_why(
        http, web, worker, make_user, db, integrations_sim):
    """The campaign engine's hand-over closes the task (DO_NOT_CALL): the trigger writes the push there too."""
    name, _, ex = await _setup(http, web, make_user, integrations_sim)
    client_phone = phone()
    body = request_body(client_phone)
    task = int((await ex.send(body)).json()["taskID"])  # accepted: not on the list then
    # Held back (so the engine does not hand it over first), the phone listed, then due.
    await db.execute("UPDATE campaign_tasks SET task_state = 'NEW', task_time = now() + interval '1 day' "
                     "WHERE id = $1", task)
    await db.execute("INSERT INTO do_not_call (phone, reason, source) VALUES ($1, 'Просил не звонить', 'ADMIN')",
                     client_phone)
    await db.execute("UPDATE campaign_tasks SET task_time = now() WHERE id = $1", task)

    async def pushed():
        return integrations_sim.pushes(name)["pushes"]
    [received] = await eventually(pushed, timeout=30)
    assert received["body"]["taskStatus"] == "5" and received["body"]["closeReason"] == "DO_NOT_CALL"
    assert received["body"]["secondLevelClientReaction"] == "Клиент в списке «не звонить»"
    assert await db.fetchval("SELECT close_reason FROM campaign_tasks WHERE id = $1", task) == "DO_NOT_CALL"
