"""Drafts carry the version the client last saw: a save from an older version (a late retry, another tab)
is refused with 409 and the current draft, never written over newer words. A client that sends no version
keeps the seed's last-write-wins."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task

DRAFT = "/api/arm/v1/saveCommunicationDraft"


async def _on_call(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_task(db)
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, unique("call-")))
    comm_id = started.json()["data"]["communicationId"]
    return token, task, comm_id


def _body(comm_id, task, comment, version=None):
    body = {"communicationId": comm_id, "clientPhone": task["phone"],
            "communicationResult": {"result": "Перезвонить", "comment": comment}}
    if version is not None:
        body["draftVersion"] = version
    return body


async def _stored(db, comm_id):
    return await db.fetchval("SELECT result_details->>'comment' FROM communications WHERE id = $1", comm_id)


async def test_a_save_from_an_older_version_is_refused_with_the_current_draft(http, web, db, make_user):
    token, task, comm_id = await _on_call(http, web, db, make_user)
    auth = bearer(token)
    first = await http.post(f"{web[0]}{DRAFT}", json=_body(comm_id, task, "первые слова", 0), headers=auth)
    newer = await http.post(f"{web[1]}{DRAFT}", json=_body(comm_id, task, "новые слова", 1), headers=auth)
    # The page's retry of the first save, 3 s late, still carrying version 0: refused, nothing overwritten.
    stale = await http.post(f"{web[0]}{DRAFT}", json=_body(comm_id, task, "первые слова", 0), headers=auth)
    assert await _stored(db, comm_id) == "новые слова"
    assert stale.status_code == 409, stale.text
    assert first.json() == {"status": "OK", "data": {"draftVersion": 1}}
    assert newer.json() == {"status": "OK", "data": {"draftVersion": 2}}
    error = stale.json()["error"]
    assert stale.json()["status"] == "ERROR"
    assert error["code"] == "DRAFT_VERSION_CONFLICT" and error["field"] == "draftVersion"
    assert error["data"] == {"draftVersion": 2,
                             "communicationResult": {"result": "Перезвонить", "comment": "новые слова"}}
    ahead = await http.post(f"{web[0]}{DRAFT}", json=_body(comm_id, task, "x", 7), headers=auth)
    assert ahead.status_code == 409  # a version the server never gave out is not the current one either

    # A repeat of the stored words from the version before them (a retry whose answer was lost) is no conflict.
    repeat = await http.post(f"{web[1]}{DRAFT}", json=_body(comm_id, task, "новые слова", 1), headers=auth)
    assert repeat.json() == {"status": "OK", "data": {"draftVersion": 2}}

    # The card reports the version wherever it is read.
    rest = (await http.get(f"{web[1]}/api/arm/v1/getClientCard", headers=auth)).json()["data"]
    assert rest["clientCard"]["currentCommunication"]["draftVersion"] == 2
    assert rest["clientCard"]["currentCommunication"]["result"]["comment"] == "новые слова"
    by_id = await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId",
                            json={"communicationId": comm_id}, headers=auth)
    assert by_id.json()["data"]["clientCard"]["currentCommunication"]["draftVersion"] == 2

    # Resolving the conflict as the page does: the operator's words again, with the server's version.
    resolved = await http.post(f"{web[0]}{DRAFT}", json=_body(comm_id, task, "первые слова и ещё", 2), headers=auth)
    assert resolved.json() == {"status": "OK", "data": {"draftVersion": 3}}
    assert await _stored(db, comm_id) == "первые слова и ещё"

    # Without a version: the seed's contract, last write wins (and the version still counts up).
    legacy = await http.post(f"{web[1]}{DRAFT}", json=_body(comm_id, task, "без версии"), headers=auth)
    assert legacy.json() == {"status": "OK", "data": {"draftVersion": 4}}
    assert await _stored(db, comm_id) == "без версии"

    bad = await http.post(f"{web[1]}{DRAFT}", json=_body(comm_id, task, "y", -1), headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "draftVersion"
    versions = await db.fetch("SELECT details->>'comment' AS c FROM communication_result_versions "
                              "WHERE communication_id = $1 AND kind = 'DRAFT' ORDER BY id", comm_id)
    assert [v["c"] for v in versions] == ["первые слова", "новые слова", "первые слова и ещё", "без версии"]


async def test_concurrent_saves_from_one_version_let_exactly_one_through(http, web, db, make_user):
    token, task, comm_id = await _on_call(http, web, db, make_user)
    answers = await asyncio.gather(*[
        http.post(f"{web[i % 2]}{DRAFT}", json=_body(comm_id, task, f"вариант {i}", 0), headers=bearer(token))
        for i in range(8)])
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 7, [a.text for a in answers]
    [winner] = [a for a in answers if a.status_code == 200]
    assert winner.json()["data"]["draftVersion"] == 1
    stored = await _stored(db, comm_id)
    for loser in (a for a in answers if a.status_code == 409):
        assert loser.json()["error"]["data"]["communicationResult"]["comment"] == stored
