"""Bad input from a careless client or an attacker: a 400 naming the field, never a 500, nothing stored.
Every string a client sends is NUL-free, every integer fits a bigint, every date is sane (core/types.py)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task

NUL = "a\u0000b"
HUGE = 2**63


def _refused(r, field):
    assert r.status_code == 400, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["field"] == field, error
    return error


async def test_nul_in_login_and_password_is_a_400(http, web):
    _refused(await http.post(f"{web[0]}/api/arm/v1/login", json={"login": NUL, "password": "x"}), "login")
    _refused(await http.post(f"{web[0]}/api/security/v1/login", json={"login": "op", "password": NUL}), "password")


async def test_nul_in_drafts_and_results_is_a_400_and_nothing_is_saved(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_task(db)
    comm = (await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))).json()["data"]
    for path in ("saveCommunicationDraft", "saveCommunicationResult"):
        r = await http.post(f"{web[0]}/api/arm/v1/{path}", headers=bearer(token), json={
            "communicationId": comm["communicationId"], "clientPhone": task["phone"],
            "communicationResult": {"result": "Согласен", "comment": NUL}})
        error = _refused(r, "communicationResult.comment")
        assert "NUL" in error["message"]
    assert await db.fetchval("SELECT state FROM communications WHERE id = $1", comm["communicationId"]) == "NEW"


async def test_nul_anywhere_in_admin_input_is_a_400(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    r = await http.post(f"{web[0]}/api/admin/v1/operators", headers=admin, json={
        "login": unique("op"), "password": "long-enough-pw", "role": "operator", "firstName": NUL, "lastName": "Б"})
    _refused(r, "firstName")
    _refused(await http.post(f"{web[0]}/api/admin/v1/campaigns", headers=admin, json={"name": NUL}), "name")
    campaign = (await http.post(f"{web[0]}/api/admin/v1/campaigns", headers=admin,
                                json={"name": unique("c")})).json()["data"]["id"]
    tasks = f"{web[0]}/api/admin/v1/campaigns/{campaign}/tasks"
    _refused(await http.post(tasks, headers=admin, json={"phone": "79990001122", "clientInfo": {"note": NUL}}),
             "clientInfo.note")
    _refused(await http.post(tasks, headers=admin, json={"phone": "79990001122",
                                                         "clientInfo": {"extra": {"deep": [1, NUL]}}}),
             "clientInfo.extra.deep[1]")
    _refused(await http.post(tasks, headers=admin, json={"phone": "79990001122", "clientInfo": {NUL: 1}}),
             "clientInfo")


async def test_a_field_of_the_wrong_shape_is_named_not_dropped(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = (await http.post(f"{web[0]}/api/admin/v1/campaigns", headers=admin,
                                json={"name": unique("c")})).json()["data"]["id"]
    r = await http.post(f"{web[0]}/api/admin/v1/campaigns/{campaign}/tasks", headers=admin,
                        json={"phone": "79990001122", "clientInfo": {"fullNameRu": "Иванова Анна"}})
    _refused(r, "clientInfo.fullNameRu")
    r = await http.post(f"{web[0]}/api/admin/v1/campaigns/{campaign}/tasks", headers=admin,
                        json={"phone": "79990001122", "clientInfo": {"birthDate": "вчера"}})
    _refused(r, "clientInfo.birthDate")


async def test_integers_beyond_bigint_are_a_400(http, web, db, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    r = await http.get(f"{web[0]}/api/admin/v1/operators?offset={HUGE}", headers=admin)
    assert r.status_code == 400, r.text
    r = await http.post(f"{web[0]}/api/admin/v1/campaigns/{HUGE}/tasks", headers=admin, json={"phone": "79990001122"})
    assert r.status_code in (400, 404), r.text  # never a 500
    assert r.status_code != 500
    task = await seed_task(db)
    _refused(await push(http, web[0], event("CALL_STARTED", HUGE, task, unique("call-"))), "operatorId")
    _refused(await push(http, web[0], {**event("CALL_STARTED", 1, task, unique("call-")), "campaignTaskId": -HUGE}),
             "campaignTaskId")


@pytest.mark.parametrize("occurred", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
                                      "1970-01-01T00:00:00Z", "2026-11-20T09:45:00"])
async def test_dates_that_overflow_or_are_insane_are_a_400(http, web, db, make_user, occurred):
    op = await make_user("operator")
    task = await seed_task(db)
    r = await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-"), occurredAt=occurred))
    _refused(r, "occurredAt")
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = (await http.post(f"{web[0]}/api/admin/v1/campaigns", headers=admin,
                                json={"name": unique("c")})).json()["data"]["id"]
    r = await http.post(f"{web[0]}/api/admin/v1/campaigns/{campaign}/tasks", headers=admin,
                        json={"phone": "79990001122", "taskTime": occurred})
    _refused(r, "taskTime")


async def test_nul_in_webhook_identifiers_is_a_400(http, web, db, make_user):
    op = await make_user("operator")
    task = await seed_task(db)
    _refused(await push(http, web[0], {**event("CALL_STARTED", op.id, task, unique("call-")), "eventId": NUL}),
             "eventId")
    _refused(await push(http, web[0], event("CALL_STARTED", op.id, task, NUL)), "callId")
    assert json.dumps(NUL)  # (the escaped form is what travels)
