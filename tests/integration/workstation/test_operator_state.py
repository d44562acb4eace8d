"""Operator state as supervisors (and telephony) read it."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task


async def test_login_logout_and_lapsed_sessions(http, web, db, make_user):
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    op = await make_user("operator")

    async def state() -> str:
        rows = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
        return next(r["state"] for r in rows if r["operatorId"] == op.id)

    assert await state() == "OFFLINE"
    token = await login(http, web[0], op)
    assert await state() == "READY"
    await http.get(f"{web[0]}/api/arm/v1/logout", headers=bearer(token))
    assert await state() == "OFFLINE"

    await login(http, web[0], op)
    assert await state() == "READY"
    # The session lapses without a logout (idle expiry): the worker notices.
    await db.execute("UPDATE operator_sessions SET idle_expires_at = now() - interval '1 second' "
                     "WHERE operator_id = $1", op.id)
    for _ in range(30):
        if await state() == "OFFLINE":
            break
        await asyncio.sleep(0.2)
    assert await state() == "OFFLINE"
    operator_view = await http.get(f"{web[0]}/api/supervisor/v1/operatorStates", headers=bearer(
        await login(http, web[0], await make_user("operator"))))
    assert operator_view.status_code == 403


async def test_result_saved_during_the_call_frees_the_operator_when_it_ends(http, web, db, make_user):
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_task(db)
    call = unique("call-")
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    comm_id = started.json()["data"]["communicationId"]
    saved = await http.post(f"{web[1]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200

    async def state() -> str:
        rows = (await http.get(f"{web[1]}/api/supervisor/v1/operatorStates", headers=supervisor)).json()["data"]
        return next(r["state"] for r in rows if r["operatorId"] == op.id)

    assert await state() == "ON_CALL"  # still talking
    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    assert await state() == "READY"  # nothing left to save: no result window
