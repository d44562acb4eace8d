"""The result window runs in one clock, the database's: the deadline is the database's time of the hang-up
plus the window (as the expiry and the 'late' check compare it with the database's now())."""

from __future__ import annotations

import time
from datetime import timedelta

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import Socket, event, push, seed_task


async def test_the_deadline_is_the_databases_time_of_the_hang_up_plus_the_window(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    task = await seed_task(db)
    call = unique("call-")
    started = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    comm_id = started.json()["data"]["communicationId"]
    ended = event("CALL_ENDED", op.id, task, call)
    assert (await push(http, web[1], ended)).status_code == 200
    # call_events.received_at is the database's now() of the transaction that applied the hang-up.
    row = await db.fetchrow(
        """SELECT c.result_deadline, e.received_at, s.wrap_up_deadline
             FROM communications c, call_events e, operator_states s
            WHERE c.id = $1 AND e.event_id = $2 AND s.operator_id = $3""", comm_id, ended["eventId"], op.id)
    assert row["result_deadline"] - row["received_at"] == timedelta(seconds=60)
    assert row["wrap_up_deadline"] == row["result_deadline"]
    card = (await http.get(f"{web[0]}/api/arm/v1/getClientCard", headers=bearer(token))).json()["data"]
    assert card["resultDeadlineEpochMs"] == int(row["result_deadline"].timestamp() * 1000)
    assert 0 < card["resultDeadlineEpochMs"] - card["serverTimeEpochMs"] <= 60_000

    # Saved after the deadline by the database's clock: late, whatever the web process's clock says.
    await db.execute("UPDATE communications SET result_deadline = now() - interval '1 millisecond' WHERE id = $1",
                     comm_id)
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200  # (in the window, or from rework if the worker expired it first: late too)
    assert await db.fetchval("SELECT completed_late FROM communications WHERE id = $1", comm_id) is True


async def test_hello_ok_gives_the_page_the_servers_clock_and_the_operators_zone(http, web, make_user):
    """The page shows every time on one clock: the server's, in the operators' zone (OPERATOR_TIMEZONE),
    measured as an offset when the socket says HELLO_OK, whatever the browser's own clock and zone."""
    op = await make_user("operator")
    token = await login(http, web[0], op)
    before = int(time.time() * 1000)
    ws = await Socket.open(web[0], token)
    after = int(time.time() * 1000)
    try:
        data = ws.hello["data"]
        assert data["timeZone"] == "Europe/Moscow"
        assert before - 1000 <= data["serverTimeEpochMs"] <= after + 1000
    finally:
        await ws.close()
