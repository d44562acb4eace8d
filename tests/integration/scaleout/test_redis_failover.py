"""Redis high availability: the whole stack runs against a Sentinel-managed Redis (primary, replica, three
Sentinels), the primary is killed with SIGKILL while operators take calls and save results, and after the
failover every provider call event is applied once and every result the operator was told was saved is
FIXED in PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import redis.asyncio as aioredis

from tests.conftest import bearer, login
from tests.harness import ARTIFACTS, unique
from tests.integration.scaleout.redis_ha import MASTER, RedisHA
from tests.integration.workstation.helpers import Socket, seed_task

OPERATORS = 3
CALLS_EACH = 5
KILL_AFTER_SAVED = 4


async def _frame(ws: Socket, kind: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = await ws.next(timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


async def test_a_primary_killed_mid_traffic_loses_no_call_event_and_no_saved_result(http, stack):
    ha = RedisHA(ARTIFACTS / unique("sentinel-"))
    await asyncio.to_thread(ha.start)
    try:
        st = await stack(REDIS_URL=f"redis://127.0.0.1:{ha.primary}/0", REDIS_SENTINELS=ha.sentinel_setting,
                         REDIS_SENTINEL_MASTER=MASTER, STREAM_CLAIM_IDLE_SECONDS="2")
        await st.sim(http, "POST", "/_config", {"autoDial": False})  # only the calls this test places
        users = [await st.user() for _ in range(OPERATORS)]
        tokens = [await login(http, st.web.url, op) for op in users]

        async def sessions_open() -> bool:
            state = await st.sim(http, "GET", "/_state")
            return {s["login"] for s in state["sessions"]} >= {op.login for op in users}
        await st.wait_for(sessions_open, timeout=15)
        sockets = [await Socket.open(st.web.url, token) for token in tokens]
        saved: list[int] = []
        statuses: list[int] = []
        killed = asyncio.Event()

        async def operator(op: Any, token: str, ws: Socket) -> None:
            for _ in range(CALLS_EACH):
                task = await seed_task(st.db)
                while True:  # the previous call's hang-up may still be in flight at the provider
                    r = await http.post(st.sim_url + "/_call", json={
                        "login": op.login, "phone": task["phone"], "externalId": str(task["task"]),
                        "talkSeconds": 0.2})
                    if r.status_code != 409:
                        break
                    await asyncio.sleep(0.1)
                assert r.status_code == 200, r.text
                card = await _frame(ws, "CLIENT_CARD_READY")
                assert card["data"]["clientCard"]["clientInfo"]["phone"] == task["phone"]
                comm = card["data"]["communicationId"]
                await _frame(ws, "CALL_ENDED")
                body = {"communicationId": comm, "clientPhone": task["phone"],
                        "communicationResult": {"result": "Согласен", "comment": "после сбоя Redis"}}
                while True:  # the client retries what was not confirmed; a 503 names the dependency
                    r = await http.post(f"{st.web.url}/api/arm/v1/saveCommunicationResult", json=body,
                                        headers=bearer(token))
                    statuses.append(r.status_code)
                    if r.status_code == 200:
                        break
                    assert r.status_code == 503, r.text
                    await asyncio.sleep(0.3)
                saved.append(comm)

        async def killer() -> tuple[int, float]:
            while len(saved) < KILL_AFTER_SAVED:
                await asyncio.sleep(0.05)
            old = await asyncio.to_thread(ha.kill_primary)
            started = time.monotonic()
            killed.set()
            await asyncio.to_thread(ha.wait_failover, old)
            return old, time.monotonic() - started

        results = await asyncio.wait_for(asyncio.gather(
            killer(), *(operator(op, t, ws) for op, t, ws in zip(users, tokens, sockets, strict=True))), 120)
        old, failover_seconds = results[0]
        assert ha.master_port() == ha.replica != old

        emitted = (await st.sim(http, "GET", "/_state"))["events"]
        assert len(emitted) == 2 * OPERATORS * CALLS_EACH

        async def all_applied() -> bool:
            return await st.db.fetchval("SELECT count(*) FROM call_events") == len(emitted)
        await st.wait_for(all_applied, timeout=20)
        applied = await st.db.fetch("SELECT event_id FROM call_events")
        assert sorted(r["event_id"] for r in applied) == sorted(f"provider-{e['id']}" for e in emitted)
        rows = await st.db.fetch("SELECT id, state FROM communications WHERE operator_id = ANY($1::bigint[])",
                                 [op.id for op in users])
        assert len(rows) == OPERATORS * CALLS_EACH  # one communication per call, none twice
        assert {r["id"] for r in rows} == set(saved)
        assert {r["state"] for r in rows} == {"FIXED"}
        assert set(statuses) <= {200, 503}
        print(f"\nfailover in {failover_seconds:.1f} s; saves answered {statuses.count(503)} x 503 then 200")
        for ws in sockets:
            await ws.close()
    finally:
        await asyncio.to_thread(ha.stop)


async def test_events_no_replica_confirmed_survive_the_next_failover(http, stack):
    """The loss a CI fault run hit (seed 18): a replica stops confirming, so the appends are not waited for;
    the call's events sit on the primary alone, no worker has read them yet, and the primary dies. The
    telephony process has moved past them at the provider, so only it can put them back: it must."""
    ha = RedisHA(ARTIFACTS / unique("sentinel-"))
    await asyncio.to_thread(ha.start)
    replica = ha.procs[ha.replica]
    try:
        st = await stack(REDIS_URL=f"redis://127.0.0.1:{ha.primary}/0", REDIS_SENTINELS=ha.sentinel_setting,
                         REDIS_SENTINEL_MASTER=MASTER, STREAM_CLAIM_IDLE_SECONDS="2", DEPENDENCY_TIMEOUT="1")
        await st.sim(http, "POST", "/_config", {"autoDial": False})
        op = await st.user()
        token = await login(http, st.web.url, op)

        async def session_open() -> bool:
            state = await st.sim(http, "GET", "/_state")
            return op.login in {s["login"] for s in state["sessions"]}
        await st.wait_for(session_open, timeout=15)
        ws = await Socket.open(st.web.url, token)
        st.procs["worker"].kill()  # nobody reads the stream: the events stay on the primary only
        replica.send_signal(signal.SIGSTOP)  # the replica hangs: WAIT gets no confirmation
        primary = aioredis.Redis(port=ha.primary)
        await primary.client_kill_filter(_type="replica")  # and its link is gone: nothing reaches it, not buffered
        task = await seed_task(st.db)
        r = await http.post(st.sim_url + "/_call", json={
            "login": op.login, "phone": task["phone"], "externalId": str(task["task"]), "talkSeconds": 0.2})
        assert r.status_code == 200, r.text
        stream = st.services.redis_prefix + "call-events"

        async def both_appended() -> bool:
            return await primary.xlen(stream) >= 2
        await st.wait_for(both_appended, timeout=15)
        await primary.aclose()
        await asyncio.sleep(1.0)  # the telephony process saves its cursor
        old = await asyncio.to_thread(ha.kill_primary)  # before the replica has the events
        replica.send_signal(signal.SIGCONT)
        await asyncio.to_thread(ha.wait_failover, old)
        st.start("worker-2", "backend.worker")

        emitted = (await st.sim(http, "GET", "/_state"))["events"]
        assert len(emitted) == 2

        async def all_applied() -> bool:
            return await st.db.fetchval("SELECT count(*) FROM call_events") == len(emitted)
        await st.wait_for(all_applied, timeout=30)
        row = await st.db.fetchrow("SELECT state, call_ended_at FROM communications WHERE operator_id = $1", op.id)
        assert row is not None and row["call_ended_at"] is not None
        await ws.close()
    finally:
        replica.send_signal(signal.SIGCONT)
        await asyncio.to_thread(ha.stop)
