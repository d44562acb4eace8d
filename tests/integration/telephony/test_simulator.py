"""The provider simulator on its own, over real HTTP: each app served by uvicorn on a port of its own in this
event loop (and, for a real restart, `python -m telephony.simulator` as a subprocess)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from telephony.parsing import EventsPage
from telephony.simulator.app import Config, create_simulator
from tests.harness import WebProcess, free_port, unique

ID = re.compile(r"^(s|call|t)-([0-9a-z]+)-(\d+)$")


# What the adapter parses, strictly: the simulator must speak the documented event format.
Page = EventsPage


Sim = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    started: list[tuple[uvicorn.Server, asyncio.Task[None], httpx.AsyncClient]] = []

    async def start(config: Config | None = None) -> httpx.AsyncClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_simulator(config or Config(auto_dial=False)),
                                               log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10)
        started.append((server, task, client))
        return client

    yield start
    for server, task, client in started:
        await client.aclose()
        server.should_exit = True
        await task


async def ok(r: Awaitable[httpx.Response], status: int = 200) -> Any:
    response = await r
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def open_session(c: httpx.AsyncClient, login: str) -> str:
    body = await ok(c.post("/api/v1/sessions", json={"login": login, "password": "x"}), 201)
    return str(body["sessionId"])


async def events(c: httpx.AsyncClient, session_id: str, after: int = 0) -> dict[str, Any]:
    page: dict[str, Any] = await ok(c.get(f"/api/v1/sessions/{session_id}/events", params={"after": after}))
    return page


async def a_call(c: httpx.AsyncClient, talk: float = 0.05) -> dict[str, Any]:
    """A session and one whole call on it: (sessionId, callId, taskId, the event ids)."""
    login = unique("op_")
    session_id = await open_session(c, login)
    placed = await ok(c.post("/_call", json={"login": login, "externalId": "1", "talkSeconds": talk}))
    for _ in range(100):
        page = await events(c, session_id)
        if len(page["events"]) == 2:
            break
        await asyncio.sleep(0.02)
    assert [e["type"] for e in page["events"]] == ["call.started", "call.ended"]
    return dict(placed, events=[e["id"] for e in page["events"]])


def epochs(*ids: str) -> set[str]:
    found = [ID.match(i) for i in ids]
    assert all(found), ids
    return {m.group(2) for m in found if m}


async def test_ids_are_unique_across_instances_and_a_reset(sim: Sim) -> None:
    a = await sim()
    first = await a_call(a)
    await asyncio.sleep(0.005)
    b = await sim()
    second = await a_call(b)
    await ok(a.post("/_reset"))
    third = await a_call(a)

    runs = [first, second, third]
    assert len({e for r in runs for e in epochs(r["sessionId"], r["callId"], r["taskId"])}) == 3  # one per start
    for kind in ("sessionId", "callId", "taskId"):
        assert len({r[kind] for r in runs}) == 3
    event_ids = [e for r in runs for e in r["events"]]
    assert all(isinstance(e, int) and 10**15 < e < 2**53 for e in event_ids)
    assert max(first["events"]) < min(second["events"])  # a later start numbers above an earlier one
    assert max(first["events"]) < min(third["events"])  # a reset continues above the last id
    assert len(set(event_ids)) == 6


async def test_a_restarted_simulator_process_never_reuses_ids() -> None:
    port = free_port()
    env = dict(os.environ, SIM_PORT=str(port), SIM_AUTODIAL="0")
    seen: list[dict[str, Any]] = []
    for run in range(2):
        proc = WebProcess(env, f"restart{run}", module="telephony.simulator", port=port)
        try:
            await asyncio.to_thread(proc.wait_ready, "/api/v1/health")
            async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
                seen.append(await a_call(c))
        finally:
            proc.stop()
    old, new = seen
    assert old["sessionId"] != new["sessionId"] and old["callId"] != new["callId"] and old["taskId"] != new["taskId"]
    assert max(old["events"]) < min(new["events"])


async def test_task_creation_is_idempotent_by_key(sim: Sim) -> None:
    c = await sim()
    ext = unique("")
    key = {"Idempotency-Key": unique("k-")}
    body = {"externalId": ext, "phone": "79990000001"}
    first = await ok(c.post("/api/v1/tasks", json=body, headers=key), 201)
    assert first == {"taskId": first["taskId"], "status": "NEW", "externalId": ext}
    again = await ok(c.post("/api/v1/tasks", json=body, headers=key), 200)
    assert again == first
    await ok(c.delete(f"/api/v1/tasks/{first['taskId']}"), 204)
    other_body = {"externalId": "other", "phone": "79990000002"}  # whatever the body or the task's status
    assert await ok(c.post("/api/v1/tasks", json=other_body, headers=key), 200) == dict(first, status="CANCELLED")

    racing = {"Idempotency-Key": unique("k-")}  # concurrent retries with one key make one task
    replies = await asyncio.gather(*[c.post("/api/v1/tasks", json=body, headers=racing) for _ in range(5)])
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 200, 201]
    assert len({r.json()["taskId"] for r in replies}) == 1

    plain = await ok(c.post("/api/v1/tasks", json=body), 201)  # no key: a new task each time, as before
    listed = (await ok(c.get("/api/v1/tasks", params={"externalId": ext})))["tasks"]
    assert [t["taskId"] for t in listed] == [first["taskId"], replies[0].json()["taskId"], plain["taskId"]]
    assert listed[0] == {"taskId": first["taskId"], "externalId": ext, "phone": "79990000001",
                         "status": "CANCELLED", "idempotencyKey": key["Idempotency-Key"]}
    assert listed[2]["idempotencyKey"] is None and listed[2]["status"] == "NEW"
    assert (await ok(c.get("/api/v1/tasks", params={"externalId": "nobody"}))) == {"tasks": []}
    assert (await c.get("/api/v1/tasks")).status_code == 400
    got = await ok(c.get(f"/api/v1/tasks/{first['taskId']}"))
    assert got == listed[0]
    posts = await ok(c.get("/_requests", params={"path": "/api/v1/tasks"}))
    assert posts[0]["headers"] == key and posts[0]["method"] == "POST"


async def test_request_log_and_event_lists_are_bounded(sim: Sim) -> None:
    assert Config().max_requests == 10_000 and Config().max_session_events == 1_000
    assert create_simulator().state.provider.requests.maxlen == 10_000
    c = await sim(Config(auto_dial=False, max_requests=50, max_session_events=5))
    for i in range(80):
        await ok(c.get("/api/v1/health", params={"n": i}))
    log = await ok(c.get("/_requests"))
    assert len(log) == 50 and [r["query"]["n"] for r in log] == [str(i) for i in range(30, 80)]

    login = unique("op_")
    session_id = await open_session(c, login)
    added = [(await ok(c.post("/_event", json={"login": login, "raw": {"n": i}})))["event"] for i in range(8)]
    page = await events(c, session_id)
    assert page["events"] == added[3:] and page["next"] == added[-1]["id"]
    assert (await ok(c.get("/_state")))["sessions"][0]["events"] == 5


async def test_the_request_log_bound_is_the_sim_request_log_setting_and_survives_a_reset() -> None:
    """A long run keeps memory flat: the process keeps only the last SIM_REQUEST_LOG requests."""
    port = free_port()
    proc = WebProcess(dict(os.environ, SIM_PORT=str(port), SIM_AUTODIAL="0", SIM_REQUEST_LOG="50"), "ring",
                      module="telephony.simulator", port=port)
    try:
        await asyncio.to_thread(proc.wait_ready, "/api/v1/health")
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as c:
            for _ in range(2):
                for i in range(120):
                    await ok(c.get("/api/v1/health", params={"n": i}))
                log = await ok(c.get("/_requests"))
                assert [int(r["query"]["n"]) for r in log] == list(range(70, 120))  # the last 50, oldest first
                assert all(r["path"] == "/api/v1/health" and r["method"] == "GET" for r in log)
                await ok(c.post("/_reset"))  # forgets everything, but the bound is the process's setting
                assert await ok(c.get("/_requests")) == []
    finally:
        proc.stop()


async def test_garbage_events_are_listed_and_advance_the_cursor(sim: Sim) -> None:
    c = await sim()
    login = unique("op_")
    session_id = await open_session(c, login)

    added = await ok(c.post("/_event", json={"login": login, "raw": {"type": "call.weird", "callId": "x"}}))
    assert added["sessionId"] == session_id and isinstance(added["event"]["id"], int)
    page = await events(c, session_id)
    assert page["events"] == [added["event"]] and page["next"] == added["event"]["id"]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(page), type=Page)

    assert (await ok(c.post("/_faults", json={"malformedNext": 1})))["malformedNext"] == 1
    placed = await ok(c.post("/_call", json={"login": login, "talkSeconds": 30}))
    page = await events(c, session_id, page["next"])
    assert [e["type"] for e in page["events"]] == ["call.started", "call.transferred"]
    garbage = page["events"][1]
    assert garbage["id"] == page["next"] > page["events"][0]["id"] and "taskId" not in garbage
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(page), type=Page)
    assert (await events(c, session_id, page["next"])) == {"events": [], "next": page["next"]}  # only N of them
    await ok(c.delete(f"/api/v1/calls/{placed['callId']}"), 204)
    page = await events(c, session_id, page["next"])
    assert [e.type for e in msgspec.json.decode(msgspec.json.encode(page), type=Page).events] == ["call.ended"]

    await ok(c.post("/_event", json={"sessionId": session_id, "raw": "not an object"}))  # no id: listed in place
    assert (await events(c, session_id, page["next"]))["events"] == ["not an object"]
    assert (await c.post("/_event", json={"login": "nobody", "raw": {}})).status_code == 404


async def test_a_dropped_hang_up_is_never_listed_but_the_call_shows_ended(sim: Sim) -> None:
    c = await sim()
    login = unique("op_")
    session_id = await open_session(c, login)
    placed = await ok(c.post("/_call", json={"login": login, "externalId": "7", "talkSeconds": 0.3}))
    call_id = placed["callId"]
    assert (await ok(c.post("/_drop_end", json={"callId": call_id})))["dropEndOf"] == [call_id]
    live = await ok(c.get(f"/api/v1/calls/{call_id}"))
    assert live["status"] == "IN_PROGRESS" and "endedAt" not in live and live["taskId"] == placed["taskId"]
    await asyncio.sleep(0.6)
    ended = await ok(c.get(f"/api/v1/calls/{call_id}"))
    assert ended["status"] == "ENDED" and ended["endedAt"] >= ended["startedAt"]
    assert [e["type"] for e in (await events(c, session_id))["events"]] == ["call.started"]
    assert (await ok(c.get(f"/api/v1/tasks/{placed['taskId']}")))["status"] == "DONE"
    assert (await c.post("/_drop_end", json={"callId": call_id})).status_code == 409

    # The same through /_faults, and the hang-up lost when the adapter ends the call itself.
    await ok(c.put(f"/api/v1/sessions/{session_id}/status", json={"status": "READY"}), 204)
    second = await ok(c.post("/_call", json={"login": login, "talkSeconds": 30}))
    assert (await ok(c.post("/_faults", json={"dropEndOf": second["callId"]})))["dropEndOf"] == [second["callId"]]
    await ok(c.delete(f"/api/v1/calls/{second['callId']}"), 204)
    assert (await ok(c.get(f"/api/v1/calls/{second['callId']}")))["status"] == "ENDED"
    assert [e["type"] for e in (await events(c, session_id))["events"]] == ["call.started", "call.started"]


async def test_delete_hangs_up_a_live_call_once(sim: Sim) -> None:
    c = await sim()
    login = unique("op_")
    session_id = await open_session(c, login)
    placed = await ok(c.post("/_call", json={"login": login, "externalId": "9", "talkSeconds": 60}))
    call_id = placed["callId"]
    assert (await ok(c.get(f"/api/v1/calls/{call_id}")))["status"] == "IN_PROGRESS"
    await ok(c.delete(f"/api/v1/calls/{call_id}"), 204)
    ended = await ok(c.get(f"/api/v1/calls/{call_id}"))
    assert ended["status"] == "ENDED" and "endedAt" in ended
    await ok(c.delete(f"/api/v1/calls/{call_id}"), 204)  # already ended: no second call.ended
    listed = (await events(c, session_id))["events"]
    assert [(e["type"], e["callId"]) for e in listed] == [("call.started", call_id), ("call.ended", call_id)]
    state = await ok(c.get("/_state"))
    assert state["sessions"][0]["onCall"] is None
    assert [t["status"] for t in state["tasks"] if t["taskId"] == placed["taskId"]] == ["DONE"]
    assert (await c.get("/api/v1/calls/call-nope-1")).status_code == 404
    assert (await c.delete("/api/v1/calls/call-nope-1")).status_code == 404


async def test_a_session_opens_in_the_status_asked_for(sim: Sim) -> None:
    """An adapter opening a session for an operator on a call asks for BUSY at the open: no moment in which the
    provider would ring them. Without a status a session opens READY, and a bad one is refused."""
    c = await sim()
    busy, ready = unique("op_"), unique("op_")
    await ok(c.post("/api/v1/sessions", json={"login": busy, "password": "x", "status": "BUSY"}), 201)
    await open_session(c, ready)
    statuses = {s["login"]: s["status"] for s in (await ok(c.get("/_state")))["sessions"]}
    assert statuses == {busy: "BUSY", ready: "READY"}
    bad = await c.post("/api/v1/sessions", json={"login": unique("op_"), "password": "x", "status": "AWAY"})
    assert bad.status_code == 400 and bad.json()["code"] == "BAD_STATUS"
