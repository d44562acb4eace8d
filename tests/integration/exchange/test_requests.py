"""The request/response half of the exchange (seed 004) against real web processes: a task in the mapped
campaign, the seed's response, idempotency on requestID, statusCode 1 for an unknown client, and who may call."""

from __future__ import annotations

import json
import time

from backend.exchange import signing
from tests.conftest import bearer, login
from tests.integration.exchange.helpers import Exchange, make_campaign, phone, request_body


async def _admin(http, web, make_user):
    return bearer(await login(http, web[0], await make_user("admin")))


async def test_a_request_makes_one_task_and_a_repeat_gets_the_same_response(http, web, make_user, db):
    admin = await _admin(http, web, make_user)
    campaign = await make_campaign(http, web[0], admin)
    ex = await Exchange.create(http, web[0], admin, campaign_id=campaign)
    client_phone = phone()
    body = request_body(client_phone)

    first = await ex.send(body)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["replyUID"] == body["requestID"] and answer["statusCode"] == "0"
    assert answer["requestID"] != body["requestID"] and answer["taskID"].isdigit() and "statusMsg" not in answer
    task = await db.fetchrow("SELECT campaign_id, phone, client_info, rules_version_id FROM campaign_tasks "
                             "WHERE id = $1", int(answer["taskID"]))
    assert task["campaign_id"] == campaign and task["phone"] == client_phone and task["rules_version_id"]
    info = json.loads(task["client_info"])
    assert info["lastName"] == "Иванова" and info["inn"] == "1200009193"
    assert info["clientIds"]["INFOR"] == body["clientIdList"][1]["id"]

    # The same request again (another web process, keys reordered, other whitespace): the same bytes, no task.
    again = await Exchange.create(http, web[1], admin, campaign_id=campaign)
    again.client_id, again.api_key = ex.client_id, ex.api_key
    repeat = await again.send(json.dumps(dict(reversed(list(body.items()))), indent=2).encode())
    assert repeat.status_code == 200 and repeat.content == first.content
    assert repeat.headers.get("x-exchange-replayed") == "true"
    assert await db.fetchval("SELECT count(*) FROM campaign_tasks WHERE phone = $1", client_phone) == 1

    polled = await ex.poll(body["requestID"])
    assert polled.status_code == 200
    assert polled.json()["response"] == answer and polled.json()["taskState"] in ("NEW", "IN_PROGRESS")
    assert "outcome" not in polled.json()


async def test_the_same_request_id_with_another_body_is_409(http, web, make_user, db):
    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    body = request_body(phone())
    assert (await ex.send(body)).json()["statusCode"] == "0"
    other = await ex.send({**body, "inn": "7700000000"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "REQUEST_ID_CONFLICT" and other.json()["error"]["field"] == "requestID"
    # Another client may use the same requestID: idempotency is per client.
    second = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    assert (await second.send({**body, "phone": phone()})).json()["statusCode"] == "0"
    assert (await second.poll(body["requestID"])).json()["response"]["replyUID"] == body["requestID"]


async def test_an_unknown_client_is_status_1_and_a_known_one_needs_no_phone(http, web, make_user, db):
    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    unknown = await ex.send(request_body())
    assert unknown.status_code == 200
    assert unknown.json()["statusCode"] == "1" and unknown.json()["statusMsg"] and "taskID" not in unknown.json()

    client_phone = phone()
    first = request_body(client_phone)
    assert (await ex.send(first)).json()["statusCode"] == "0"
    later = request_body(clientIdList=[first["clientIdList"][0]])  # the same vtb_mdm_id, no phone
    answer = (await ex.send(later)).json()
    assert answer["statusCode"] == "0"
    assert await db.fetchval("SELECT phone FROM campaign_tasks WHERE id = $1", int(answer["taskID"])) == client_phone


async def test_no_campaign_or_do_not_call_is_status_2(http, web, make_user, db):
    admin = await _admin(http, web, make_user)
    unmapped = await Exchange.create(http, web[0], admin, campaign_id=None)
    answer = (await unmapped.send(request_body(phone()))).json()
    assert answer["statusCode"] == "2" and answer["statusMsg"]

    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    barred = phone()
    r = await http.post(f"{web[0]}/api/admin/v1/do-not-call", headers=admin,
                        json={"phone": barred, "reason": "Просил не звонить"})
    assert r.status_code == 200, r.text
    answer = (await ex.send(request_body(barred))).json()
    assert answer["statusCode"] == "2" and "не звонить" in answer["statusMsg"]
    assert await db.fetchval("SELECT count(*) FROM campaign_tasks WHERE phone = $1", barred) == 0


async def test_only_an_integration_key_opens_the_integration_api(http, web, make_user):
    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    body = request_body(phone())
    url = f"{web[0]}/api/integration/v1/communication-requests"

    missing = await http.post(url, json=body)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "INTEGRATION_KEY_REQUIRED"
    for role in ("operator", "supervisor", "admin"):  # an operator's (any role's) token is never enough
        token = bearer(await login(http, web[0], await make_user(role)))
        refused = await http.post(url, json=body, headers=token)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "INTEGRATION_KEY_REQUIRED"
    key_id = ex.api_key.split(".")[0]
    for wrong in (f"{key_id}.{'A' * 43}", "ik_0000000000000000." + "B" * 43):
        bad = await ex.send(body, api_key=wrong)
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "INTEGRATION_KEY_INVALID"
    malformed = await ex.send(body, api_key="not-a-key")
    assert malformed.status_code == 401 and malformed.json()["error"]["code"] == "INTEGRATION_KEY_REQUIRED"

    revoked = await ex.new_key()
    r = await http.delete(f"{web[0]}/api/admin/v1/integration-clients/{ex.client_id}/keys/{revoked.split('.')[0]}",
                          headers=admin)
    assert r.status_code == 200 and r.json()["data"]["revokedAt"]
    gone = await ex.send(body, api_key=revoked)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "INTEGRATION_KEY_INVALID"

    # A key does not open the admin API, nor another client's requests.
    assert (await http.get(f"{web[0]}/api/admin/v1/integration-clients",
                           headers={"x-api-key": ex.api_key})).status_code == 401
    assert (await ex.send(body)).status_code == 200
    other = await Exchange.create(http, web[0], admin, campaign_id=None)
    assert (await other.poll(body["requestID"])).status_code == 404
    assert (await ex.poll(body["requestID"])).status_code == 200


async def test_a_client_that_must_sign_its_requests(http, web, make_user):
    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin),
                               requireSignedRequests=True)
    body = request_body(phone())
    unsigned = await ex.send(body)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "SIGNATURE_MISSING"
    raw = json.dumps(body).encode()
    forged = signing.headers("x" * 43, int(time.time()), raw)
    bad = await ex.send(raw, headers=forged)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "SIGNATURE_INVALID"
    stale = signing.headers(ex.secret, int(time.time()) - 3600, raw)
    old = await ex.send(raw, headers=stale)
    assert old.status_code == 401 and old.json()["error"]["code"] == "SIGNATURE_EXPIRED"
    signed = await ex.send(raw, signed=True)
    assert signed.status_code == 200 and signed.json()["statusCode"] == "0"


async def test_bad_requests_are_400_naming_the_field(http, web, make_user):
    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    for body, field in ((request_body(phone(), inn="12ab"), "inn"), (request_body(phone(), clientIdList=[]),
                                                                        "clientIdList"),
                        (request_body(phone(), dt="yesterday"), "dt"), (request_body("123"), "phone")):
        r = await ex.send(body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field
    broken = await ex.send(b'{"requestID": ')
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "MALFORMED_JSON"


async def test_twins_sent_at_once_make_one_task_and_get_one_answer(http, web, make_user, db):
    import asyncio

    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    other = Exchange(http, web[1], admin)
    other.client_id, other.api_key = ex.client_id, ex.api_key
    client_phone = phone()
    body = request_body(client_phone)
    answers = await asyncio.gather(*[(ex if i % 2 else other).send(body) for i in range(8)])
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM campaign_tasks WHERE phone = $1", client_phone) == 1


async def test_twins_with_different_bodies_at_once_make_one_task_and_the_others_get_409(http, web, make_user, db):
    import asyncio

    admin = await _admin(http, web, make_user)
    ex = await Exchange.create(http, web[0], admin, campaign_id=await make_campaign(http, web[0], admin))
    other = Exchange(http, web[1], admin)
    other.client_id, other.api_key = ex.client_id, ex.api_key
    body = request_body(phone())
    bodies = [body, {**body, "phone": phone()}]
    answers = await asyncio.gather(*[(ex if i % 2 else other).send(bodies[i // 4]) for i in range(8)])
    won = [a for a in answers if a.status_code == 200]
    assert len({a.content for a in won}) == 1 and len(won) == 4
    assert {a.status_code for a in answers if a not in won} == {409}
    assert await db.fetchval("SELECT count(*) FROM campaign_tasks WHERE phone = ANY($1::text[])",
                             [b["phone"] for b in bodies]) == 1


async def test_a_request_for_a_client_already_with_telephony_replaces_its_task(http, web, make_user, db):
    """Entry semantics (as the cascade's): the client's open task in the campaign is closed REENTERED and,
    handed over to telephony, a DELETE is queued for it; the new task waits."""
    admin = await _admin(http, web, make_user)
    campaign = await make_campaign(http, web[0], admin)
    ex = await Exchange.create(http, web[0], admin, campaign_id=campaign)
    client_phone = phone()
    first = (await ex.send(request_body(client_phone))).json()
    await db.execute("UPDATE campaign_tasks SET task_state = 'IN_PROGRESS' WHERE id = $1", int(first["taskID"]))

    second = (await ex.send(request_body(client_phone))).json()
    assert second["statusCode"] == "0" and second["taskID"] != first["taskID"]
    old = await db.fetchrow("SELECT task_state, close_reason FROM campaign_tasks WHERE id = $1", int(first["taskID"]))
    assert dict(old) == {"task_state": "DONE", "close_reason": "REENTERED"}
    new = await db.fetchrow("SELECT campaign_id, task_state FROM campaign_tasks WHERE id = $1", int(second["taskID"]))
    assert dict(new) == {"campaign_id": campaign, "task_state": "NEW"}
    assert await db.fetchval("SELECT count(*) FROM telephony_tasks WHERE campaign_task_id = $1 "
                             "AND task_type = 'DELETE'", int(first["taskID"])) == 1
