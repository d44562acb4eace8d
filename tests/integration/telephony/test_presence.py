"""What the provider is told about an operator's presence: READY only for READY; no socket for the grace
period, a pause, or a logout make them BUSY, and no call is routed to them."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.integration.workstation.helpers import Socket


async def _session(http, st, op):
    sessions = [s for s in (await st.sim(http, "GET", "/_state"))["sessions"] if s["login"] == op.login]
    return sessions[-1] if sessions else None


async def test_away_pause_and_back_reach_the_provider_and_routing(http, stack):
    st = await stack(PRESENCE_GRACE_SECONDS="1.5")
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    op = await st.user()
    token = await login(http, st.web.url, op)
    ws = await Socket.open(st.web.url, token)

    async def status(wanted):
        async def check():
            session = await _session(http, st, op)
            return session is not None and session["status"] == wanted
        return check

    await st.wait_for(await status("READY"))
    await asyncio.sleep(3)  # past the grace with the socket open: still READY at the provider
    assert (await _session(http, st, op))["status"] == "READY"

    await ws.close()  # the browser is closed
    await st.wait_for(await status("BUSY"), timeout=15)
    assert await st.db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "AWAY"
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": "Присутствие"},
                                headers=admin)).json()["data"]["id"]
    await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", json={"phone": "79990000031"},
                    headers=admin)

    async def queued():
        return [t for t in (await st.sim(http, "GET", "/_state"))["tasks"] if t["phone"] == "79990000031"]
    [task] = await st.wait_for(queued)
    ws = await Socket.open(st.web.url, token)  # back: the socket alone does not make them READY
    await asyncio.sleep(3)
    state = await st.sim(http, "GET", "/_state")
    assert [s["status"] for s in state["sessions"] if s["login"] == op.login] == ["BUSY"]
    assert not [c for c in state["calls"] if c.get("taskId") == task["taskId"]]  # no call was routed
    assert await ws.silent(0.1)

    ready = await http.post(f"{st.web.url}/api/arm/v1/setReady", headers=bearer(token))
    assert ready.json()["data"]["state"] == "READY"
    frame = await ws.next(timeout=10, skip=("PING", "PONG", "OPERATOR_STATE"))
    assert frame["type"] == "CLIENT_CARD_READY"  # the queued client is rung now
    assert frame["data"]["clientCard"]["clientInfo"]["phone"] == "79990000031"

    # A pause asked for during the call makes the provider see BUSY once the result is saved.
    paused = await http.post(f"{st.web.url}/api/arm/v1/setPause", json={"reason": "BREAK"}, headers=bearer(token))
    assert paused.json()["data"]["pendingPause"] == "BREAK"
    assert (await ws.next(timeout=10, skip=("PING", "PONG", "OPERATOR_STATE")))["type"] == "CALL_ENDED"
    saved = await http.post(f"{st.web.url}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": frame["data"]["communicationId"], "clientPhone": "79990000031",
        "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    assert await st.db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "PAUSED"
    await asyncio.sleep(2)
    assert (await _session(http, st, op))["status"] == "BUSY"
    await ws.close()
