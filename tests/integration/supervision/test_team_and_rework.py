"""The floor shows each operator's team (for the page's team filter) and "in rework" while an operator works a
rework card; both come from PostgreSQL, so a floor rebuilt by another worker shows the same."""

from __future__ import annotations

from backend.supervision.floor import Counters, operator_view
from backend.supervision.queries import operator_rows
from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import FloorSocket, into_rework


def row_of(op_id: int, **expected):
    return lambda floor: ((row := floor.operators.get(str(op_id))) is not None
                          and all(row.get(k) == v for k, v in expected.items()) and row)


async def test_the_floor_shows_the_team_and_an_operator_working_a_rework_card(http, web, db, make_user):
    sup = await make_user("supervisor")
    floor = await FloorSocket.open(web[1], await login(http, web[0], sup))
    team_name = unique("Команда ")[:60]
    team = await db.fetchval("INSERT INTO teams (name) VALUES ($1) RETURNING id", team_name)
    op = await make_user("operator")
    await db.execute("UPDATE operators SET team_id = $2 WHERE id = $1", op.id, team)
    token = await login(http, web[0], op)
    ready = await floor.until(row_of(op.id, state="READY", teamId=team))  # the login re-reads the row
    assert ready["teamName"] == team_name and ready["presence"] == "READY"

    comm, task = await into_rework(http, web, db, op, token)
    await floor.until(row_of(op.id, state="READY", drafts=1), timeout=10)

    # Opening the rework card: the supervisor sees the operator in rework on it, within a second.
    opened = await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId", headers=bearer(token),
                             json={"communicationId": comm})
    assert opened.status_code == 200
    working = await floor.until(row_of(op.id, state="IN_REWORK"), timeout=1.5)
    assert working["presence"] == "READY" and working["reworkCommunicationId"] == comm
    assert working["since"] is not None

    # Saving a draft of it keeps them there; fixing the result ends it.
    draft = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationDraft", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": task["phone"], "communicationResult": {"comment": "перезвонить"}})
    assert draft.status_code == 200
    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    back = await floor.until(row_of(op.id, state="READY", drafts=0), timeout=5)
    assert back["reworkCommunicationId"] is None

    # The team and the state are in PostgreSQL: the floor a rebuilding worker computes has them too.
    await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId", headers=bearer(token),
                    json={"communicationId": comm})  # a FIXED card: looking at it again is not rework
    [row] = await operator_rows(db, [op.id])
    view = operator_view(row, Counters(), 10**13, 300_000)
    assert view["teamId"] == team and view["teamName"] == team_name and view["state"] == "READY"
    await floor.close()


async def test_rework_shows_over_a_pause_and_lapses_when_idle(http, web, db, make_user):
    op = await make_user("operator")
    token = await login(http, web[0], op)
    comm, _ = await into_rework(http, web, db, op, token)
    paused = await http.post(f"{web[0]}/api/arm/v1/setPause", headers=bearer(token), json={"reason": "TRAINING"})
    assert paused.status_code == 200
    await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId", headers=bearer(token),
                    json={"communicationId": comm})
    [row] = await operator_rows(db, [op.id])
    now_ms = int(row["rework_at"].timestamp() * 1000)
    view = operator_view(row, Counters(), now_ms + 1000, 300_000)
    # In rework while paused: the pause goes on underneath (its reason kept, its alert still counts).
    assert view["state"] == "IN_REWORK" and view["presence"] == "PAUSED" and view["reason"] == "TRAINING"
    # Nothing done on the card for longer than the idle window: back to the plain pause.
    assert operator_view(row, Counters(), now_ms + 300_001, 300_000)["state"] == "PAUSED"
