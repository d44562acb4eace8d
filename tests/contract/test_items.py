"""The six ways an existing (thesis-written) client tripped over the server (issue 20), one test each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.conftest import bearer, login
from tests.contract.client import seed_client
from tests.harness import unique
from tests.integration.rules.helpers import make_campaign
from tests.integration.rules.test_after_call import TAXONOMY
from tests.integration.workstation.helpers import event, phone, push


async def _card_answers(http, base, token) -> tuple[int, dict]:
    r = await http.get(f"{base}/api/arm/v1/getClientCard", headers=bearer(token))
    return r.status_code, r.json()


async def test_1_a_polling_client_never_meets_an_error_in_a_shift(http, web, db, make_user):
    """hasChanges announces a card to fetch, and getClientCard answers 200 at any moment of the shift."""
    op = await make_user("operator")
    token = await login(http, web[0], op)
    auth = bearer(token)

    async def poll() -> dict:
        changes = (await http.get(f"{web[0]}/api/arm/v1/hasChanges", headers=auth)).json()["data"]
        if changes["hasChanges"]:
            status, body = await _card_answers(http, web[1], token)
            assert status == 200, body  # the thesis client calls getClientCard whenever hasChanges is true
        return changes

    status, idle = await _card_answers(http, web[0], token)
    assert (status, idle) == (200, {"status": "OK"})  # before any call: no card, no error
    task = await seed_client(db, phone())
    call = unique("call-")
    await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    assert await poll() == {"hasChanges": True, "changes": ["CLIENT_CARD_READY"]}
    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    assert await poll() == {"hasChanges": False, "changes": []}  # the card on screen is still the card
    comm = await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call)
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=auth, json={
        "communicationId": comm, "clientPhone": task["phone"], "communicationResult": {"result": "Оформит"}})
    assert saved.status_code == 200
    assert await poll() == {"hasChanges": False, "changes": []}
    response = await http.get(f"{web[1]}/api/arm/v1/getClientCard", headers=auth)
    assert response.status_code == 200 and response.json() == {"status": "OK"}
    # A REST-first page still learns the watermark to say HELLO with.
    assert int(response.headers["x-last-seq"]) >= 3


async def test_2_the_rework_list_carries_both_spellings_of_the_result(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_client(db, phone())
    call = unique("call-")
    await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    comm = await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call)
    words = {"reason": "Не было с собой документа", "result": "Дополним позже", "comment": "Перезвонить"}
    await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", headers=bearer(token),
                    json={"communicationId": comm, "clientPhone": task["phone"], "communicationResult": words})
    await http.get(f"{web[0]}/api/arm/v1/logout", headers=bearer(token))  # the open call goes to rework
    token = await login(http, web[0], op)
    [item] = (await http.get(f"{web[1]}/api/arm/v1/listCommunications", headers=bearer(token))).json()[
        "data"]["communications"]
    assert item["result"] == {**words, "REASON": words["reason"], "RESULT": words["result"],
                              "COMMENT": words["comment"]}


async def test_3_a_result_without_a_code_is_accepted_as_appendix_k_allows(http, web, db, pool, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    auth = bearer(token)

    async def ended_call(task) -> int:
        call = unique("call-")
        await push(http, web[0], event("CALL_STARTED", op.id, task, call))
        await push(http, web[0], event("CALL_ENDED", op.id, task, call))
        return int(await db.fetchval("SELECT id FROM communications WHERE call_id = $1", call))

    # A campaign without a result taxonomy: the result is fixed as it is (comment only, or nothing at all).
    free = await seed_client(db, phone())
    for body in ({}, {"communicationResult": {}}, {"communicationResult": {"comment": "Клиент перезвонит сам"}}):
        comm = await ended_call(free)
        saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=auth,
                                json={"communicationId": comm, "clientPhone": free["phone"], **body})
        assert saved.status_code == 200 and saved.json() == {"status": "OK"}, saved.text
        row = await db.fetchrow("SELECT state, result_details FROM communications WHERE id = $1", comm)
        assert row["state"] == "FIXED"
        assert json.loads(row["result_details"]) == body.get("communicationResult", {})

    # A campaign with a taxonomy needs a code to decide the client's next step: the words are kept as the
    # draft and the communication stays open (its window, then rework) until a code is chosen.
    zone = ZoneInfo("Europe/Moscow")
    campaign, version = await make_campaign(pool, {"data-streams": [unique("T_").upper()], "filters-order": [],
                                                 "time-zone": zone.key, "result-taxonomy": TAXONOMY})
    client = phone()
    task_id = await db.fetchval(
        """INSERT INTO campaign_tasks (campaign_id, phone, rules_version_id, task_time, task_state)
           VALUES ($1, $2, $3, $4, 'IN_PROGRESS') RETURNING id""", campaign, client, version, datetime.now(UTC))
    comm = await ended_call({"task": task_id, "phone": client})
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=auth, json={
        "communicationId": comm, "clientPhone": client, "communicationResult": {"comment": "Подумает"}})
    assert saved.status_code == 200 and saved.json() == {"status": "OK"}, saved.text
    row = await db.fetchrow("SELECT state, result_details FROM communications WHERE id = $1", comm)
    assert row["state"] == "NEW" and json.loads(row["result_details"]) == {"comment": "Подумает"}
    # A result that carries a code is still held to the taxonomy.
    bad = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=auth, json={
        "communicationId": comm, "clientPhone": client, "communicationResult": {"result": "Согласен"}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "RESULT_NOT_IN_TAXONOMY"
    good = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=auth, json={
        "communicationId": comm, "clientPhone": client,
        "communicationResult": {"result": "REACHED", "reason": "AGREED", "comment": "Подумает"}})
    assert good.status_code == 200
    assert await db.fetchval("SELECT state FROM communications WHERE id = $1", comm) == "FIXED"


def test_4_a_product_without_an_end_date_still_has_an_end_time():
    from backend.workstation.card import product

    row = {"do_id": "1", "start_time": "2026-11-20T09:45:00+00:00", "end_time": None}
    out = product(row, ZoneInfo("Europe/Moscow"))
    assert out["startTime"] == "20.11.2026 12:45"
    assert out["endTime"] == "31.12.9999 23:59"  # dd.MM.yyyy HH:mm, as appendix З requires: "open-ended"


async def test_5_the_security_service_answers_denials_as_the_thesis_does(http, web, make_user):
    op = await make_user("operator")
    locked = await make_user("operator", locked=True)
    base = f"{web[0]}/api/security/v1"
    wrong = await http.post(f"{base}/login", json={"login": op.login, "password": "wrong-pass"})
    assert wrong.status_code == 200
    assert wrong.json() == {"result": {"code": "INVALID_CREDENTIALS", "description": "Неверный логин или пароль"}}
    english = await http.post(f"{base}/login", json={"login": op.login, "password": "wrong-pass"},
                              headers={"Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"})
    assert english.json() == {"result": {"code": "INVALID_CREDENTIALS", "description": "Wrong login or password"}}
    barred = await http.post(f"{base}/login", json={"login": locked.login, "password": locked.password})
    assert barred.status_code == 200 and barred.json()["result"]["code"] == "ACCOUNT_LOCKED"
    denied = await http.post(f"{base}/checkAccess", json={"token": "garbage"}, headers={"Accept-Language": "en"})
    assert denied.status_code == 200
    assert denied.json() == {"result": {"code": "ACCESS_DENIED", "description": "Access denied"}}
    # A malformed token on logout is answered as a revoked one is: nothing is left to end.
    logged_in = await http.post(f"{base}/login", json={"login": op.login, "password": op.password})
    token = logged_in.json()["data"]["token"]
    assert (await http.post(f"{base}/logout", json={"token": token})).json() == {"result": {"code": "OK"}}
    again = await http.post(f"{base}/logout", json={"token": token})
    forged = await http.post(f"{base}/logout", json={"token": "not-a-token"})
    assert again.status_code == forged.status_code == 200
    assert again.json() == forged.json() == {"result": {"code": "OK"}}
    # A request the service cannot read is still an HTTP error, described in the request's language.
    bad = await http.post(f"{base}/login", json={"login": 5, "password": "x"})
    assert bad.status_code == 400 and bad.json()["result"]["code"] == "VALIDATION_ERROR"
    assert bad.json()["result"]["description"].startswith("Некорректный запрос")
