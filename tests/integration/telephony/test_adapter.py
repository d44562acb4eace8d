"""The telephony process against the provider simulator over real HTTP, with real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import bearer, login
from tests.integration.workstation.helpers import Socket, seed_task


async def test_login_opens_a_session_and_events_flow_to_the_stream_as_emitted(http, stack):
    st = await stack()
    op = await st.user()
    token = await login(http, st.web.url, op)
    ws = await Socket.open(st.web.url, token)

    async def session_open():
        state = await st.sim(http, "GET", "/_state")
        return [s for s in state["sessions"] if s["login"] == op.login]
    await st.wait_for(session_open)

    task = await seed_task(st.db)
    await st.db.execute("UPDATE campaign_tasks SET task_state = 'IN_PROGRESS' WHERE id = $1", task["task"])
    await st.sim(http, "POST", "/_call", {"login": op.login, "phone": task["phone"], "externalId": str(task["task"]),
                                          "talkSeconds": 0.5})
    card = await ws.next(timeout=10)
    assert card["type"] == "CLIENT_CARD_READY"
    assert card["data"]["clientCard"]["clientInfo"]["phone"] == task["phone"]
    assert (await ws.next(timeout=10))["type"] == "CALL_ENDED"

    emitted = (await st.sim(http, "GET", "/_state"))["events"]
    streamed = await st.stream()
    assert [e["eventId"] for e in streamed] == [f"provider-{e['id']}" for e in emitted]
    assert [e["type"] for e in streamed] == ["CALL_STARTED", "CALL_ENDED"]
    assert {e["callId"] for e in streamed} == {emitted[0]["callId"]}
    for e in streamed:
        assert e["operatorId"] == op.id and e["campaignTaskId"] == task["task"] and e["phone"] == task["phone"]
        assert e["occurredAt"] <= e["polledAt"] <= e["appendedAt"]  # stage-by-stage timestamps
    health = await st.health(http)
    assert health.status_code == 200 and health.json()["activeSessions"] == 1
    await ws.close()


async def _logged_in(http, st, op):
    token = await login(http, st.web.url, op)

    async def session_open():
        state = await st.sim(http, "GET", "/_state")
        return [s for s in state["sessions"] if s["login"] == op.login]
    sessions = await st.wait_for(session_open)
    return token, sessions[-1]["sessionId"]


async def test_restart_of_telephony_mid_stream_neither_loses_nor_duplicates(http, stack):
    st = await stack()
    # Only the calls this test places: the worker would otherwise hand the seeded tasks to the dialer too.
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    tasks = [await seed_task(st.db) for _ in range(6)]
    for i, task in enumerate(tasks):
        for _ in range(50):  # the previous call's hang-up may still be in flight: 409 ON_CALL, ring again
            r = await http.post(st.sim_url + "/_call", json={"login": op.login, "phone": task["phone"],
                                                             "externalId": str(task["task"]), "talkSeconds": 0.05})
            if r.status_code != 409:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 200, r.text
        if i == 2:
            st.procs["telephony"].kill()  # crash mid-stream, cursor possibly behind the stream
        await asyncio.sleep(0.2)
    st.start("telephony", "telephony")
    emitted = (await st.sim(http, "GET", "/_state"))["events"]
    assert len(emitted) == 12

    async def all_applied():
        return await st.db.fetchval("SELECT count(*) FROM call_events") == 12
    await st.wait_for(all_applied, timeout=15)
    applied = await st.db.fetch("SELECT event_id, outcome FROM call_events ORDER BY event_id")
    assert sorted(r["event_id"] for r in applied) == sorted(f"provider-{e['id']}" for e in emitted)
    assert await st.db.fetchval("SELECT count(*) FROM communications WHERE operator_id = $1", op.id) == 6
    streamed = [e["eventId"] for e in await st.stream()]
    assert set(streamed) == {f"provider-{e['id']}" for e in emitted}  # re-reads possible, never a gap
    assert token


async def test_tasks_reach_the_provider_once_and_re_entry_cancels(http, stack):
    st = await stack()
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    await st.sim(http, "POST", "/_config", {"autoDial": False})  # the provider keeps tasks NEW
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": "Доведи до займа"},
                                headers=admin)).json()["data"]["id"]
    body = {"phone": "79995550011", "clientInfo": {"lastName": "Иванова", "firstName": "Анна"}}
    first = (await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", json=body,
                             headers=admin)).json()["data"]["campaignTaskId"]

    async def at_provider():
        return [t for t in (await st.sim(http, "GET", "/_state"))["tasks"] if t["externalId"] == str(first)]
    [provider_task] = await st.wait_for(at_provider)
    assert provider_task["status"] == "NEW" and provider_task["phone"] == "79995550011"
    assert await st.db.fetchval("SELECT task_state FROM campaign_tasks WHERE id = $1", first) == "IN_PROGRESS"

    async def recorded():  # written once the provider's answer is in, just after the task appears there
        return await st.db.fetchrow("SELECT id, task_state, provider_task_id FROM telephony_tasks "
                                    "WHERE campaign_task_id = $1 AND provider_task_id IS NOT NULL", first)
    row = await st.wait_for(recorded, timeout=5)
    assert row["task_state"] == "IN_PROGRESS" and row["provider_task_id"] == provider_task["taskId"]

    # The same ADD again (a re-sent command): the provider still holds the task as NEW, so nothing is sent.
    await st.redis.xadd(st.services.redis_prefix + "telephony-commands",
                        {"command": json.dumps({"type": "ADD_TASK", "telephonyTaskId": row["id"]})})
    await st.wait_for(lambda: _metric(http, st, "telephony_duplicate_tasks_suppressed_total", 1))
    posts = await st.sim(http, "GET", "/_requests?path=/api/v1/tasks")
    assert len([r for r in posts if r["method"] == "POST"]) == 1

    # The client re-enters the campaign: the old task is cancelled at the provider, a new one is sent.
    second = (await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", json=body,
                              headers=admin)).json()["data"]["campaignTaskId"]
    assert second != first

    async def replaced():
        tasks = {t["externalId"]: t["status"] for t in (await st.sim(http, "GET", "/_state"))["tasks"]}
        return tasks.get(str(first)) == "CANCELLED" and tasks.get(str(second)) == "NEW"
    await st.wait_for(replaced)
    assert await st.db.fetchval("SELECT task_state FROM campaign_tasks WHERE id = $1", first) == "DONE"


async def _metric(http, st, name, at_least):
    text = (await http.get(f"http://127.0.0.1:{st.telephony_port}/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1]) >= at_least
    return False


async def test_rides_out_5xx_and_timeouts_and_recovers(http, stack):
    st = await stack()
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    await st.sim(http, "POST", "/_faults", {"failRate": 1.0})  # every provider request fails with 503

    async def down():
        return (await st.health(http)).status_code == 503
    await st.wait_for(down)
    assert (await st.health(http)).json()["provider"] == "down"
    task = await seed_task(st.db)
    await st.sim(http, "POST", "/_call", {"login": op.login, "phone": task["phone"], "externalId": str(task["task"]),
                                          "talkSeconds": 0.2})  # happens while we cannot read events
    await st.sim(http, "POST", "/_faults", {"failRate": 0.0, "delaySeconds": 2.0})  # now: timeouts (1 s limit)
    await asyncio.sleep(2.5)
    assert (await st.health(http)).status_code == 503
    await st.sim(http, "POST", "/_faults", {"delaySeconds": 0.0})

    async def up():
        return (await st.health(http)).status_code == 200
    await st.wait_for(up, timeout=15)
    frames = [await ws.next(timeout=10), await ws.next(timeout=10)]  # nothing was lost
    assert [f["type"] for f in frames] == ["CLIENT_CARD_READY", "CALL_ENDED"]
    await ws.close()


async def test_logout_closes_the_provider_session(http, stack):
    st = await stack()
    op = await st.user()
    token, session_id = await _logged_in(http, st, op)
    await http.get(f"{st.web.url}/api/arm/v1/logout", headers=bearer(token))

    async def closed():
        return not [s for s in (await st.sim(http, "GET", "/_state"))["sessions"] if s["login"] == op.login]
    await st.wait_for(closed)
    deletes = await st.sim(http, "GET", f"/_requests?path=/api/v1/sessions/{session_id}")
    assert [r["method"] for r in deletes if r["method"] == "DELETE"] == ["DELETE"]

    async def forgotten():  # the adapter drops its row once the provider has answered the DELETE
        return await st.db.fetchval("SELECT count(*) FROM telephony_active_sessions") == 0
    await st.wait_for(forgotten, timeout=5)


async def test_sessions_dropped_or_idle_past_the_limit_are_reopened(http, stack):
    st = await stack(SIM_SESSION_IDLE_SECONDS="2")
    op = await st.user()
    token, first = await _logged_in(http, st, op)
    st.procs["telephony"].kill()  # nobody polls: the provider closes the session after 2 idle seconds
    await asyncio.sleep(3)
    st.start("telephony", "telephony")  # resumes from the database, finds the session gone, re-opens it

    async def reopened():
        sessions = [s for s in (await st.sim(http, "GET", "/_state"))["sessions"] if s["login"] == op.login]
        return sessions if sessions and sessions[-1]["sessionId"] != first else None
    second = (await st.wait_for(reopened))[-1]["sessionId"]
    await st.sim(http, "POST", "/_faults", {"dropSessions": True})  # the provider forgets every session
    third = (await st.wait_for(reopened))[-1]["sessionId"]
    assert len({first, second, third}) == 3
    ws = await Socket.open(st.web.url, token)
    task = await seed_task(st.db)
    await st.sim(http, "POST", "/_call", {"login": op.login, "phone": task["phone"], "externalId": str(task["task"])})
    assert (await ws.next(timeout=10))["type"] == "CLIENT_CARD_READY"
    await ws.close()


async def test_duplicated_and_reordered_provider_events_apply_once(http, stack):
    st = await stack()
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    await st.sim(http, "POST", "/_faults", {"duplicateEvents": True, "reorderEvents": True})
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    task = await seed_task(st.db)
    await st.sim(http, "POST", "/_call", {"login": op.login, "phone": task["phone"], "externalId": str(task["task"]),
                                          "talkSeconds": 0.05})
    frames = [await ws.next(timeout=10), await ws.next(timeout=10)]
    assert [f["type"] for f in frames] == ["CLIENT_CARD_READY", "CALL_ENDED"]
    assert await ws.silent(1.0)
    assert [e["type"] for e in await st.stream()] == ["CALL_STARTED", "CALL_ENDED"]
    await ws.close()


async def test_the_provider_does_not_ring_an_operator_inside_the_result_window(http, stack):
    st = await stack()
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": "Окно"},
                                headers=admin)).json()["data"]["id"]
    for phone in ("79990000001", "79990000002"):
        await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", json={"phone": phone}, headers=admin)
    first = await ws.next(timeout=10)
    assert first["type"] == "CLIENT_CARD_READY"
    assert (await ws.next(timeout=10))["type"] == "CALL_ENDED"
    assert await ws.silent(3.0)  # WRAP_UP: the second task waits although the operator's line is free
    comm = first["data"]["communicationId"]
    phone = first["data"]["clientCard"]["clientInfo"]["phone"]
    saved = await http.post(f"{st.web.url}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": phone, "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    assert (await ws.next())["type"] == "RESULT_SAVED"
    second = await ws.next(timeout=10)
    assert second["type"] == "CLIENT_CARD_READY" and second["data"]["clientCard"]["clientInfo"]["phone"] != phone
    await ws.close()
