"""Issue 21: the poller at floor scale. Polls spread over the interval (each operator at its own phase, a slow
one delaying nobody), the provider's 429/Retry-After honoured per operator and by commands, availability
changes sent concurrently and off the poll path. Timings are read from the simulator's request log."""

from __future__ import annotations

import asyncio
import itertools
import statistics

from tests.conftest import bearer, login
from tests.integration.telephony.test_adapter import _metric
from tests.integration.workstation.helpers import Socket, seed_task

INTERVAL = 0.2


async def _floor(http, st, n):
    """n operators logged in, each with its provider session: [(user, token, session id)]."""
    users = [await st.user() for _ in range(n)]
    tokens = [await login(http, st.web.url, u) for u in users]

    async def all_open():
        sessions = {s["login"]: s["sessionId"] for s in (await st.sim(http, "GET", "/_state"))["sessions"]}
        return sessions if all(u.login in sessions for u in users) else None
    sessions = await st.wait_for(all_open, timeout=20)
    return [(u, t, sessions[u.login]) for u, t in zip(users, tokens, strict=True)]


async def _polls(http, st, since, until=None):
    """Arrival times of each session's event polls at the provider: {session id: [time.time()]}."""
    out: dict[str, list[float]] = {}
    for r in await st.sim(http, "GET", "/_requests?path=/api/v1/sessions/"):
        if r["method"] == "GET" and r["path"].endswith("/events") and r["at"] >= since and \
                (until is None or r["at"] < until):
            out.setdefault(r["path"].split("/")[4], []).append(r["at"])
    return out


def _gaps(times):
    return [b - a for a, b in itertools.pairwise(times)]


async def _now(http, st):
    """The simulator's clock (time.time() of the same machine), as the request log has it."""
    await http.get(st.sim_url + "/api/v1/health")
    return (await st.sim(http, "GET", "/_requests?path=/api/v1/health"))[-1]["at"]


async def test_polls_are_spread_evenly_and_a_slow_operator_delays_nobody(http, stack):
    st = await stack(POLL_INTERVAL_SECONDS=str(INTERVAL))
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    floor = await _floor(http, st, 10)
    await asyncio.sleep(1.0)
    since = await _now(http, st)
    await asyncio.sleep(2.0)
    polls = await _polls(http, st, since)
    assert set(polls) == {sid for _, _, sid in floor}
    gaps = [g for times in polls.values() for g in _gaps(times)]
    assert abs(statistics.median(gaps) - INTERVAL) <= INTERVAL * 0.1
    assert sum(abs(g - INTERVAL) <= INTERVAL * 0.25 for g in gaps) >= 0.9 * len(gaps), sorted(gaps)
    # Each operator at its own phase: no burst per cycle. Ten operators in one burst would leave a gap of
    # nearly the whole interval between the phases; spread, the largest is a small share of it.
    phases = sorted(statistics.median(t % INTERVAL for t in times[1:]) for times in polls.values())
    circular = [b - a for a, b in itertools.pairwise(phases)] + [phases[0] + INTERVAL - phases[-1]]
    assert max(circular) < 0.4 * INTERVAL, phases

    # One operator's provider answers take 1 s (five intervals): the others are polled on time regardless,
    # and the slow one is not asked again before its answer came.
    slow = floor[0][2]
    await st.sim(http, "POST", "/_faults", {"delayPaths": {f"/{slow}/events": 1.0}})
    await asyncio.sleep(0.5)
    since = await _now(http, st)
    await asyncio.sleep(3.0)
    polls = await _polls(http, st, since)
    others = [g for sid, times in polls.items() if sid != slow for g in _gaps(times)]
    assert abs(statistics.median(others) - INTERVAL) <= INTERVAL * 0.1
    assert max(others) < 2.5 * INTERVAL, sorted(others)[-5:]
    assert all(g >= 0.95 for g in _gaps(polls[slow])), polls[slow]
    await st.sim(http, "POST", "/_faults", {"delayPaths": {}})


async def test_429_retry_after_is_honoured_per_operator_and_by_commands(http, stack):
    st = await stack(POLL_INTERVAL_SECONDS=str(INTERVAL))
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    (throttled, token, sid), (_, _, other) = await _floor(http, st, 2)
    ws = await Socket.open(st.web.url, token)
    await st.sim(http, "POST", "/_faults", {"throttlePaths": {f"/{sid}/events": 1.0}})
    since = await _now(http, st)
    await asyncio.sleep(3.5)
    polls = await _polls(http, st, since)
    # The provider said "again in 1 s": this operator waits that long each time; the other goes on as before.
    assert 2 <= len(polls[sid]) <= 5 and all(g >= 0.95 for g in _gaps(polls[sid])), polls[sid]
    assert abs(statistics.median(_gaps(polls[other])) - INTERVAL) <= INTERVAL * 0.1
    health = (await st.health(http)).json()
    assert health["provider"] == "up"  # it answers: throttled, not down
    assert await _metric(http, st, "telephony_provider_throttled_total", 2)

    await st.sim(http, "POST", "/_faults", {"throttlePaths": {}})
    task = await seed_task(st.db)
    await st.db.execute("UPDATE campaign_tasks SET task_state = 'IN_PROGRESS' WHERE id = $1", task["task"])
    await st.sim(http, "POST", "/_call", {"login": throttled.login, "phone": task["phone"],
                                          "externalId": str(task["task"]), "talkSeconds": 30})
    assert (await ws.next(timeout=5))["type"] == "CLIENT_CARD_READY"  # polled again, nothing lost
    await ws.close()

    # A command (an ADD) told 429 Retry-After: 1 is sent again after that second, once it is let through.
    await st.sim(http, "POST", "/_faults", {"throttlePaths": {"/api/v1/tasks": 1.0}})
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": "429"},
                                headers=admin)).json()["data"]["id"]
    created = await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks",
                              json={"phone": "79990004290"}, headers=admin)
    campaign_task = created.json()["data"]["campaignTaskId"]

    async def attempts():  # the ADD, and after it the look-up a retried ADD starts with (same path)
        ours = str(campaign_task)
        return [r["at"] for r in await st.sim(http, "GET", "/_requests?path=/api/v1/tasks")
                if r["path"] == "/api/v1/tasks" and ours in (r["query"].get("externalId"),
                                                             (r["body"] or {}).get("externalId"))]
    await st.wait_for(lambda: _at_least(attempts, 3), timeout=10)
    cleared_at = await _now(http, st)
    await st.sim(http, "POST", "/_faults", {"throttlePaths": {}})

    async def recorded():
        return await st.db.fetchval(
            "SELECT provider_task_id FROM telephony_tasks WHERE campaign_task_id = $1 AND task_type = 'ADD'",
            campaign_task)
    await st.wait_for(recorded, timeout=10)
    sent = await attempts()
    refused = [t for t in sent if t < cleared_at]
    assert len(refused) >= 3 and all(g >= 0.95 for g in _gaps(refused)), _gaps(refused)
    assert min(t for t in sent if t >= cleared_at) - refused[-1] >= 0.95
    tasks = (await st.sim(http, "GET", f"/api/v1/tasks?externalId={campaign_task}"))["tasks"]
    assert len(tasks) == 1


async def _at_least(fetch, n):
    return len(await fetch()) >= n


async def test_availability_changes_are_sent_concurrently_and_off_the_poll_path(http, stack):
    st = await stack(POLL_INTERVAL_SECONDS=str(INTERVAL))
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    floor = await _floor(http, st, 8)
    sessions = {sid for _, _, sid in floor}

    async def reported(status):
        state = (await st.sim(http, "GET", "/_state"))["sessions"]
        return all(s["status"] == status for s in state if s["sessionId"] in sessions)
    await st.wait_for(lambda: reported("READY"))
    # Every availability answer now takes 0.5 s (PROVIDER_TIMEOUT is 1 s). All eight operators go on calls at
    # once: sent one after another that would take 4 s (and, ahead of each poll cycle, stall polling);
    # concurrently, about 0.5 s.
    await st.sim(http, "POST", "/_faults", {"delayPaths": {"/status": 0.5}})
    since = await _now(http, st)
    await st.db.execute("UPDATE operator_states SET state = 'ON_CALL' WHERE operator_id = ANY($1::bigint[])",
                        [u.id for u, _, _ in floor])
    await st.wait_for(lambda: reported("BUSY"), timeout=2.5)
    puts = [r for r in await st.sim(http, "GET", "/_requests?path=/api/v1/sessions/")
            if r["method"] == "PUT" and r["at"] >= since]
    assert {r["path"].split("/")[4] for r in puts} == sessions and {r["body"]["status"] for r in puts} == {"BUSY"}
    times = sorted(r["at"] for r in puts)
    assert len(puts) == 8 and times[-1] - times[0] < 0.4, times  # all in flight together, each sent once
    until = await _now(http, st)
    polls = await _polls(http, st, since, until)
    assert set(polls) == sessions
    for times in polls.values():  # nobody's polling waited for the slow availability answers
        assert max(_gaps([since, *times, until])) < 2.5 * INTERVAL, times
    await st.sim(http, "POST", "/_faults", {"delayPaths": {}})


async def test_garbage_without_an_id_at_the_end_of_the_list_is_set_aside_once(http, stack):
    """The cursor cannot move past an event without an id, so the provider lists it at every poll until a
    later event comes: it is dead-lettered once, not at every poll."""
    st = await stack(POLL_INTERVAL_SECONDS=str(INTERVAL))
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    [(user, token, _)] = await _floor(http, st, 1)
    await st.sim(http, "POST", "/_event", {"login": user.login, "raw": [1, 2, 3]})
    await asyncio.sleep(10 * INTERVAL)
    assert await st.db.fetchval("SELECT count(*) FROM dead_letters") == 1
    ws = await Socket.open(st.web.url, token)
    task = await seed_task(st.db)
    await st.db.execute("UPDATE campaign_tasks SET task_state = 'IN_PROGRESS' WHERE id = $1", task["task"])
    await st.sim(http, "POST", "/_call", {"login": user.login, "phone": task["phone"],
                                          "externalId": str(task["task"]), "talkSeconds": 30})
    assert (await ws.next(timeout=5))["type"] == "CLIENT_CARD_READY"
    await asyncio.sleep(5 * INTERVAL)
    assert await st.db.fetchval("SELECT count(*) FROM dead_letters") == 1
    await ws.close()


async def test_the_global_rate_cap_slows_everyone_evenly_instead_of_overloading_the_provider(http, stack):
    st = await stack(POLL_INTERVAL_SECONDS="0.1", PROVIDER_RATE_LIMIT="20")  # 4 operators want 40 polls/s
    await st.sim(http, "POST", "/_config", {"autoDial": False})
    floor = await _floor(http, st, 4)
    await asyncio.sleep(1.0)
    since = await _now(http, st)
    await asyncio.sleep(3.0)
    until = await _now(http, st)
    sent = [r for r in await st.sim(http, "GET", "/_requests?path=/api/v1/") if since <= r["at"] < until]
    assert len(sent) <= 20 * (until - since) * 1.1 + 2, len(sent)  # everything this process sends, capped
    polls = await _polls(http, st, since, until)
    counts = [len(polls.get(sid, [])) for _, _, sid in floor]
    assert min(counts) >= 0.6 * max(counts) > 0, counts  # each operator polled less often, nobody starved
