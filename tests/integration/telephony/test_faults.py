"""Issue 10, items 1-5 (telephony side): ordinary faults must not lose a call, strand an operator or dial
a client twice. Each drives the real processes (web, worker, telephony, the provider simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from redis.exceptions import ResponseError

from tests.conftest import bearer, login
from tests.integration.telephony.test_adapter import _logged_in, _metric
from tests.integration.workstation.helpers import Socket, event, push, seed_task


async def _call(http, st, op, task, **extra):
    for _ in range(50):  # the previous call's hang-up may still be in flight: 409 ON_CALL, ring again
        r = await http.post(st.sim_url + "/_call", json={"login": op.login, "phone": task["phone"],
                                                         "externalId": str(task["task"]), **extra})
        if r.status_code != 409:
            break
        await asyncio.sleep(0.1)
    assert r.status_code == 200, r.text
    return r.json()


# -- 1. event identity ------------------------------------------------------------------------------------

async def test_a_provider_restart_mid_shift_does_not_drop_the_next_calls(http, stack):
    st = await stack()
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    first = await seed_task(st.db)
    await _call(http, st, op, first, talkSeconds=0.05)
    assert (await ws.next(timeout=10))["type"] == "CLIENT_CARD_READY"
    assert (await ws.next(timeout=10))["type"] == "CALL_ENDED"

    st.procs["simulator"].stop()  # the provider restarts: it numbers its events anew
    st.start("simulator", "telephony.simulator")
    await st.wait_for(lambda: _session_of(http, st, op), timeout=20)  # telephony re-opened the session
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    second = await seed_task(st.db)
    await _call(http, st, op, second, talkSeconds=0.05)
    card = await ws.next(timeout=10)
    assert card["type"] == "CLIENT_CARD_READY", card
    assert card["data"]["clientCard"]["clientInfo"]["phone"] == second["phone"]
    assert await st.db.fetchval("SELECT count(*) FROM communications WHERE operator_id = $1", op.id) == 2
    assert await st.db.fetchval("SELECT count(*) FROM call_events WHERE outcome <> 'APPLIED'") == 0
    await ws.close()


async def _session_of(http, st, op):
    try:
        state = (await http.get(st.sim_url + "/_state")).json()
    except Exception:
        return None
    return [s for s in state["sessions"] if s["login"] == op.login]


async def test_a_different_event_under_a_known_id_is_a_conflict_not_a_duplicate(http, stack):
    st = await stack()
    op = await st.user()
    task = await seed_task(st.db)
    started = event("CALL_STARTED", op.id, task, "call-x")
    assert (await push(http, st.web.url, started)).json()["data"]["outcome"] == "APPLIED"
    again = await push(http, st.web.url, started)  # redelivered as is: harmless
    assert again.status_code == 200 and again.json()["data"]["outcome"] == "DUPLICATE"

    other = await seed_task(st.db)
    clash = {**event("CALL_STARTED", op.id, other, "call-y"), "eventId": started["eventId"]}
    r = await push(http, st.web.url, clash)
    assert r.status_code == 409 and r.json()["error"]["code"] == "EVENT_ID_CONFLICT"
    assert r.json()["error"]["field"] == "eventId"
    letters = await st.db.fetch("SELECT source, reason, payload FROM dead_letters")
    assert [(x["source"], "call-y" in x["payload"]) for x in letters] == [("call-event", True)]
    assert await st.db.fetchval("SELECT count(*) FROM communications WHERE call_id = 'call-y'") == 0


# -- 2. garbage from the provider ------------------------------------------------------------------------

async def test_an_unusable_provider_event_is_dead_lettered_and_calls_keep_flowing(http, stack):
    st = await stack()
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    await st.sim(http, "POST", "/_event", {"login": op.login, "raw": {"type": "call.transferred", "to": 5}})
    await st.sim(http, "POST", "/_event", {"login": op.login, "raw": [1, 2, 3]})  # not even an object
    task = await seed_task(st.db)
    await _call(http, st, op, task, talkSeconds=0.05)
    assert (await ws.next(timeout=10))["type"] == "CLIENT_CARD_READY"
    assert (await ws.next(timeout=10))["type"] == "CALL_ENDED"

    letters = await st.db.fetch("SELECT source, reason, payload FROM dead_letters ORDER BY id")
    assert [x["source"] for x in letters] == ["provider-event", "provider-event"]
    assert "call.transferred" in letters[0]["payload"] and "unparseable" in letters[0]["reason"]
    assert await _metric(http, st, "telephony_dead_letters_total", 2)
    assert st.procs["telephony"].proc.poll() is None  # alive
    health = (await st.health(http)).json()
    assert health["loops"]["polling"]["state"] != "failing"  # polling went on past the garbage
    await ws.close()


# -- 3. no client dialled twice ---------------------------------------------------------------------------

async def _campaign_task(http, st, phone="79990001234"):
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": phone},
                                headers=admin)).json()["data"]["id"]
    r = await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", json={"phone": phone},
                        headers=admin)
    return r.json()["data"]["campaignTaskId"]


async def _provider_tasks(http, st, campaign_task):
    return (await st.sim(http, "GET", f"/api/v1/tasks?externalId={campaign_task}"))["tasks"]


async def test_a_lost_answer_to_add_never_creates_a_second_dial_task(http, stack):
    st = await stack()  # PROVIDER_TIMEOUT=1
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    await st.sim(http, "POST", "/_faults", {"taskAnswerDelaySeconds": 1.5})  # created, answer too late
    campaign_task = await _campaign_task(http, st)

    async def recorded():
        return await st.db.fetchval(
            "SELECT provider_task_id FROM telephony_tasks WHERE campaign_task_id = $1 AND task_type = 'ADD'",
            campaign_task)
    provider_task_id = await st.wait_for(recorded, timeout=15)
    requests = await st.sim(http, "GET", "/_requests?path=/api/v1/tasks")
    # The answer was lost (timed out); the retry asked the provider (or re-sent the same key) — never a new task.
    assert any(r["method"] == "GET" and r["query"].get("externalId") == str(campaign_task) for r in requests)
    assert all(r["headers"].get("Idempotency-Key") for r in requests if r["method"] == "POST")
    tasks = await _provider_tasks(http, st, campaign_task)
    assert [t["taskId"] for t in tasks] == [provider_task_id]  # one dial task, however often it was sent


async def test_kill_between_send_and_record_reconciles_instead_of_resending(http, stack):
    st = await stack(PROVIDER_TIMEOUT="30", STREAM_CLAIM_IDLE_SECONDS="1")
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    await st.sim(http, "POST", "/_faults", {"taskAnswerDelaySeconds": 20})
    campaign_task = await _campaign_task(http, st)

    async def at_provider():
        return await _provider_tasks(http, st, campaign_task)
    await st.wait_for(at_provider, timeout=15)
    st.procs["telephony"].kill()  # kill -9: the ADD reached the provider, its answer never recorded
    await st.sim(http, "POST", "/_faults", {"taskAnswerDelaySeconds": 0})
    st.start("telephony", "telephony")

    async def recorded():
        return await st.db.fetchval(
            "SELECT provider_task_id FROM telephony_tasks WHERE campaign_task_id = $1 AND task_type = 'ADD'",
            campaign_task)
    provider_task_id = await st.wait_for(recorded, timeout=20)
    assert [t["taskId"] for t in await _provider_tasks(http, st, campaign_task)] == [provider_task_id]
    posts = [r for r in await st.sim(http, "GET", "/_requests?path=/api/v1/tasks") if r["method"] == "POST"]
    assert len(posts) == 1  # the restarted process asked; it did not add again


# -- 4. commands are never lost and never block each other -------------------------------------------------

async def _handed_over_task(st):
    """A campaign task already IN_PROGRESS (the worker's engine must not hand it over a second time)."""
    phone = "79" + str(await st.db.fetchval("SELECT (random() * 1e9)::bigint")).zfill(9)[:9]
    campaign = await st.db.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", phone)
    task = await st.db.fetchval("INSERT INTO campaign_tasks (campaign_id, phone, task_state) "
                                "VALUES ($1, $2, 'IN_PROGRESS') RETURNING id", campaign, phone)
    return {"task": task, "phone": phone}


async def test_a_dead_consumers_pending_command_is_taken_over(http, stack):
    st = await stack(STREAM_CLAIM_IDLE_SECONDS="1")
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    st.procs["telephony"].stop()
    task = await _handed_over_task(st)
    tt = await st.db.fetchval("INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'ADD') "
                              "RETURNING id", task["task"])
    stream = st.services.redis_prefix + "telephony-commands"
    await st.redis.xadd(stream, {"command": json.dumps({"type": "ADD_TASK", "telephonyTaskId": tt})})
    # Another telephony process read it and died before acknowledging (it never comes back).
    with contextlib.suppress(ResponseError):  # BUSYGROUP: telephony made the group already
        await st.redis.xgroup_create(stream, "telephony", id="0", mkstream=True)
    await st.redis.xreadgroup("telephony", "ghost-1", {stream: ">"}, count=10)
    st.start("telephony", "telephony")

    async def sent():
        return await _provider_tasks(http, st, task["task"])
    assert len(await st.wait_for(sent, timeout=20)) == 1
    assert await st.redis.xpending(stream, "telephony") is not None
    await st.wait_for(lambda: _no_pending(st, stream), timeout=10)


async def _no_pending(st, stream):
    return (await st.redis.xpending(stream, "telephony"))["pending"] == 0


async def test_a_failing_command_blocks_nothing_and_a_final_error_is_recorded(http, stack):
    st = await stack()
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    stream = st.services.redis_prefix + "telephony-commands"
    # A DELETE the provider keeps refusing with 503 (retried), then an ADD it refuses for good (400).
    doomed = await _handed_over_task(st)
    await st.db.execute("INSERT INTO telephony_tasks (campaign_task_id, task_type, task_state, provider_task_id) "
                        "VALUES ($1, 'ADD', 'IN_PROGRESS', 't-stuck')", doomed["task"])
    delete = await st.db.fetchval("INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'DELETE') "
                                  "RETURNING id", doomed["task"])
    await st.sim(http, "POST", "/_faults", {"failPaths": ["/api/v1/tasks/t-stuck"]})
    await st.redis.xadd(stream, {"command": json.dumps({"type": "DELETE_TASK", "telephonyTaskId": delete})})
    bad = await _handed_over_task(st)
    await st.sim(http, "POST", "/_faults", {"refusePhones": [bad["phone"]]})  # a final 422 NUMBER_BLOCKED
    bad_add = await st.db.fetchval("INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'ADD') "
                                   "RETURNING id", bad["task"])
    await st.redis.xadd(stream, {"command": json.dumps({"type": "ADD_TASK", "telephonyTaskId": bad_add})})
    good = await _handed_over_task(st)
    good_add = await st.db.fetchval("INSERT INTO telephony_tasks (campaign_task_id, task_type) VALUES ($1, 'ADD') "
                                    "RETURNING id", good["task"])
    await st.redis.xadd(stream, {"command": json.dumps({"type": "ADD_TASK", "telephonyTaskId": good_add})})

    async def good_sent():
        return await _provider_tasks(http, st, good["task"])
    await st.wait_for(good_sent, timeout=10)  # not held up behind the DELETE being retried

    async def failed():
        return await st.db.fetchrow("SELECT task_state, last_error FROM telephony_tasks WHERE id = $1 "
                                    "AND task_state = 'FAILED'", bad_add)
    row = await st.wait_for(failed, timeout=10)
    assert "422" in row["last_error"] and "NUMBER_BLOCKED" in row["last_error"]
    assert await st.db.fetchval("SELECT task_state FROM telephony_tasks WHERE id = $1", delete) == "NEW"

    await st.sim(http, "POST", "/_faults", {"failPaths": []})  # the provider recovers: the DELETE goes through

    async def deleted():
        return await st.db.fetchval("SELECT task_state FROM telephony_tasks WHERE id = $1", delete) == "DONE"
    await st.wait_for(deleted, timeout=15)


async def test_a_delete_whose_command_was_lost_is_sent_again(http, stack):
    st = await stack()
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    campaign_task = await _campaign_task(http, st, "79990004321")

    async def at_provider():
        return await _provider_tasks(http, st, campaign_task)
    provider_task = (await st.wait_for(at_provider, timeout=15))[0]
    # The client leaves the campaign, but the DELETE command never reached the stream (Redis was down).
    await st.db.execute("UPDATE campaign_tasks SET task_state = 'DONE' WHERE id = $1", campaign_task)
    await st.db.execute("INSERT INTO telephony_tasks (campaign_task_id, task_type, updated_at) "
                        "VALUES ($1, 'DELETE', now() - interval '1 minute')", campaign_task)

    async def cancelled():
        task = (await st.sim(http, "GET", f"/api/v1/tasks/{provider_task['taskId']}"))
        return task["status"] == "CANCELLED"
    await st.wait_for(cancelled, timeout=15)


# -- 5. nobody stays on a call forever --------------------------------------------------------------------

async def test_a_lost_hang_up_is_noticed_and_the_window_opens(http, stack):
    st = await stack(CALL_CHECK_SECONDS="1")
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    task = await seed_task(st.db)
    call = await _call(http, st, op, task, talkSeconds=1)
    await st.sim(http, "POST", "/_drop_end", {"callId": call["callId"]})  # its call.ended will never be listed
    assert (await ws.next(timeout=10))["type"] == "CLIENT_CARD_READY"
    ended = await ws.next(timeout=15)
    assert ended["type"] == "CALL_ENDED"
    assert await st.db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "WRAP_UP"
    assert await _metric(http, st, "telephony_lost_hangups_total", 1)
    await ws.close()


async def test_a_call_past_the_maximum_duration_is_hung_up(http, stack):
    st = await stack(CALL_CHECK_SECONDS="1", MAX_CALL_SECONDS="2")
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    task = await seed_task(st.db)
    call = await _call(http, st, op, task, talkSeconds=600)
    assert (await ws.next(timeout=10))["type"] == "CLIENT_CARD_READY"
    assert (await ws.next(timeout=15))["type"] == "CALL_ENDED"
    assert (await st.sim(http, "GET", f"/api/v1/calls/{call['callId']}"))["status"] == "ENDED"
    hangups = [r for r in await st.sim(http, "GET", f"/_requests?path=/api/v1/calls/{call['callId']}")
               if r["method"] == "DELETE"]
    assert len(hangups) == 1
    await ws.close()


# -- found by bench/faults.py: a provider restart mid-shift ------------------------------------------------

async def test_a_new_call_for_an_operator_still_on_a_call_sends_the_earlier_one_to_rework(http, stack):
    st = await stack()
    op = await st.user()
    token = await login(http, st.web.url, op)
    first, second = await seed_task(st.db), await seed_task(st.db)
    one = (await push(http, st.web.url, event("CALL_STARTED", op.id, first, "call-lost-end"))).json()["data"]
    # Its end never comes; the provider (restarted, say) rings the operator again.
    two = (await push(http, st.web.url, event("CALL_STARTED", op.id, second, "call-next"))).json()["data"]
    assert await st.db.fetchval("SELECT state FROM communications WHERE id = $1", one["communicationId"]) == "DRAFT"
    state = await st.db.fetchrow("SELECT state, communication_id FROM operator_states WHERE operator_id = $1", op.id)
    assert (state["state"], state["communication_id"]) == ("ON_CALL", two["communicationId"])
    rework = (await http.get(f"{st.web.url}/api/arm/v1/listCommunications", headers=bearer(token))).json()
    assert one["communicationId"] in [c["id"] for c in rework["data"]["communications"]]


async def test_a_reopened_provider_session_is_busy_at_once_for_an_operator_on_a_call(http, stack):
    st = await stack(POLL_INTERVAL_SECONDS="5")  # so the poll cycle's own availability report comes late
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    op = await st.user()
    token, _ = await _logged_in(http, st, op)
    ws = await Socket.open(st.web.url, token)
    task = await seed_task(st.db)
    await _call(http, st, op, task, talkSeconds=600)
    assert (await ws.next(timeout=15))["type"] == "CLIENT_CARD_READY"
    st.procs["simulator"].stop()
    st.start("simulator", "telephony.simulator")

    async def reopened():
        sessions = await _session_of(http, st, op)
        return sessions[-1] if sessions else None
    session = await st.wait_for(reopened, timeout=20)
    assert session["status"] == "BUSY", session  # not READY for a moment: the provider would ring them
    await ws.close()


async def test_dial_tasks_the_provider_lost_in_a_restart_are_queued_again(http, stack):
    st = await stack(TASK_CHECK_SECONDS="5")
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    campaign_task = await _campaign_task(http, st, "79990005555")

    async def at_provider():
        return await _provider_tasks(http, st, campaign_task)
    await st.wait_for(at_provider, timeout=15)
    st.procs["simulator"].stop()  # it forgets its queue
    st.start("simulator", "telephony.simulator")
    await st.wait_for(lambda: _up(http, st), timeout=15)
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    tasks = await st.wait_for(at_provider, timeout=30)
    assert len(tasks) == 1 and tasks[0]["status"] == "NEW"
    rows = await st.db.fetch("SELECT task_state, last_error FROM telephony_tasks WHERE campaign_task_id = $1 "
                             "AND task_type = 'ADD' ORDER BY id", campaign_task)
    assert [r["task_state"] for r in rows] == ["DONE", "IN_PROGRESS"]
    assert "no longer known" in rows[0]["last_error"]


async def _up(http, st):
    try:
        return (await http.get(st.sim_url + "/api/v1/health")).status_code == 200
    except Exception:
        return False
