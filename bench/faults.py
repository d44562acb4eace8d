"""The whole stack under injected faults, then the invariants of issue 10 checked.

A scratch database (DATABASE_URL, else embedded), a Redis of its own (append-only file, fsync always: a restart
keeps the streams), the simulator, two `web`, a `worker`, `telephony`; one bot per operator takes calls over the
WebSocket and saves ~80% of results in the window (the rest expire into rework). Over --seconds: a malformed
provider event, kill -9 of telephony between sending an ADD and recording it, a simulator restart, a Redis
restart, a logout mid-call. A process that dies on its own is restarted and reported. Then a drain (at most 60 s)
and the checks: every provider call of ours made exactly one communication, none is left NEW, nobody is ON_CALL
without a live provider call, no campaign task got two provider tasks or calls. Exit 1 if one fails.
Logs and simulator snapshots: test-artifacts/faults/<run>/.

Usage: .venv/bin/python -m bench.faults [--seconds 90] [--operators 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.harness as harness
from backend.auth.passwords import hash_sync
from backend.core.migrate import migrate
from backend.dev.embedded import free_port, start_redis
from bench.common import scratch_services
from tests.harness import WebProcess

LOGS = harness.REPO / "test-artifacts" / "faults" / datetime.now().strftime("%Y%m%d-%H%M%S")
PASSWORD = "faults-bench-password"
TALK = [1, 3]
SETTINGS = {"POLL_INTERVAL_SECONDS": "0.2", "CAMPAIGN_ENGINE_INTERVAL": "0.5", "RESULT_WINDOW_SECONDS": "5",
            "CALL_CHECK_SECONDS": "3", "MAX_CALL_SECONDS": "30", "STREAM_CLAIM_IDLE_SECONDS": "2",
            "PROVIDER_TIMEOUT": "2", "SIM_TALK_SECONDS": f"{TALK[0]}-{TALK[1]}", "SIM_AUTODIAL": "1"}


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll until ``predicate`` returns something truthy; TimeoutError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := await predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout:.0f} s)")
        await asyncio.sleep(every)
    return value


class OwnRedis:
    """A redis-server of our own (embedded.start_redis: append-only file) on a fixed port with its data and log in
    LOGS/redis, fsync on every write: a restart keeps every stream entry, as production Redis with AOF does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.stop: Callable[[], None] = lambda: None

    def start(self) -> None:
        self.url, self.stop = start_redis(LOGS / "redis", self.port)
        with redis.Redis.from_url(self.url) as client:
            client.config_set("appendfsync", "always")

    def xlen(self, stream: str) -> int:
        """Entries in ``stream``."""
        with redis.Redis.from_url(self.url) as client:
            return int(client.xlen(stream))


class Stack:
    """The processes, each restartable under its name on the same port; ``supervise`` restarts (and reports)
    one that dies on its own, as a process manager would."""

    def __init__(self, env: dict[str, str], ports: dict[str, int]) -> None:
        self.env, self.ports = env, ports
        self.procs: dict[str, WebProcess] = {}
        self.how: dict[str, tuple[str, str | None]] = {}  # name -> (module, readiness path)
        self.down: set[str] = set()
        self.note: Callable[[str, str], None] = lambda name, detail: print(name, detail)

    def start(self, name: str, module: str, ready: str | None = "/health") -> None:
        """Blocking (run it in a thread): start and wait until ``ready`` answers 200."""
        proc = WebProcess(self.env, name, module=module, port=self.ports.get(name))
        self.ports[name], self.procs[name], self.how[name] = proc.port, proc, (module, ready)
        self.down.discard(name)
        if ready:
            proc.wait_ready(ready, timeout=30)

    def stop(self, name: str, kill: bool = False) -> None:
        """Stop (SIGTERM) or kill -9 on purpose: ``supervise`` leaves it down."""
        self.down.add(name)
        self.procs[name].kill() if kill else self.procs[name].stop()

    async def supervise(self) -> None:
        """Every second: a process that exited on its own is reported and started again."""
        while True:
            await asyncio.sleep(1)
            for name, proc in list(self.procs.items()):
                if name not in self.down and proc.proc.poll() is not None:
                    self.note("process died", f"{name} exited with {proc.proc.returncode}; restarted")
                    proc.stop()
                    await asyncio.to_thread(self.start, name, *self.how[name])


class Bot:
    """One operator: logs in, holds the WebSocket (resuming with lastSeq), saves ~80% of the results."""

    def __init__(self, login: str, web: str, seed: int) -> None:
        self.login, self.web, self.rng = login, web, random.Random(seed)
        self.token: str | None = None
        self.last_seq: int | None = None
        self.on_call: int | None = None
        self.phones: dict[int, str] = {}  # communicationId -> phone, from the cards
        self.abandoned: set[int] = set()  # left by logging out mid-call: never saved
        self.resume, self.stats, self.saving = asyncio.Event(), Counter[str](), set[asyncio.Task[None]]()
        self.resume.set()

    async def run(self, http: httpx.AsyncClient) -> None:
        while True:
            await self.resume.wait()
            try:
                if self.token is None:
                    r = await http.post(f"{self.web}/api/arm/v1/login", json={"login": self.login,
                                                                               "password": PASSWORD})
                    self.token = r.raise_for_status().json()["data"]["token"]
                async with websockets.connect(self.web.replace("http", "ws", 1) + "/api/arm/v1/ws") as ws:
                    await ws.send(json.dumps({"type": "HELLO", "token": self.token, "lastSeq": self.last_seq}))
                    async for text in ws:
                        await self.handle(http, ws, json.loads(text))
            except Exception as exc:  # a web or Redis fault, or our own logout: reconnect
                self.stats[f"socket lost ({type(exc).__name__})"] += 1
            await asyncio.sleep(0.5)

    async def handle(self, http: httpx.AsyncClient, ws: Any, frame: dict[str, Any]) -> None:
        """One server frame: keep lastSeq, answer PING, note the card, and on CALL_ENDED save or leave it."""
        kind, data = frame["type"], frame.get("data") or {}
        self.last_seq = frame["seq"] if frame.get("seq") is not None else self.last_seq
        if kind == "HELLO_OK" and self.last_seq is None:
            self.last_seq = data["lastSeq"]
        elif kind in ("SESSION_ENDED", "ERROR"):
            self.token = None
        elif kind == "PING":
            await ws.send('{"type":"PONG"}')
        elif kind == "CLIENT_CARD_READY":
            self.on_call = data["communicationId"]
            self.phones[self.on_call] = data["clientCard"]["clientInfo"]["phone"]
            self.stats["cards"] += 1
        elif kind == "CALL_ENDED":
            cid = data["communicationId"]
            self.on_call = None if self.on_call == cid else self.on_call
            self.stats["call ends"] += 1
            if cid in self.abandoned or cid not in self.phones or self.rng.random() < 0.2:
                self.stats["left unsaved"] += 1
            else:
                self.saving.add(task := asyncio.create_task(self.save(http, cid)))
                task.add_done_callback(self.saving.discard)

    async def save(self, http: httpx.AsyncClient, cid: int) -> None:
        """Save the result a moment after the hang-up, retrying through faults."""
        await asyncio.sleep(self.rng.uniform(0.3, 2.0))
        body = {"communicationId": cid, "clientPhone": self.phones[cid],
                "communicationResult": {"result": "Согласие", "comment": "bench.faults"}}
        for _ in range(4):
            with contextlib.suppress(httpx.HTTPError):
                r = await http.post(f"{self.web}/api/arm/v1/saveCommunicationResult", json=body,
                                    headers={"Authorization": f"Bearer {self.token}"})
                if r.status_code < 500:
                    self.stats["saved" if r.status_code == 200 else f"save answered {r.status_code}"] += 1
                    return
            await asyncio.sleep(0.5)
        self.stats["save failed"] += 1

    async def log_out_and_back(self, http: httpx.AsyncClient) -> int:
        """Log out during the current call (never saving it), stay away 3 s, then the run loop logs in."""
        cid = self.on_call or 0
        self.abandoned.add(cid)
        self.resume.clear()
        try:
            r = await http.get(f"{self.web}/api/arm/v1/logout", headers={"Authorization": f"Bearer {self.token}"})
            r.raise_for_status()
            self.token = None
            await asyncio.sleep(3)
        finally:
            self.resume.set()
        return cid


class Shift:
    """One run: seeding, bots, the fault schedule, the drain and the invariant checks."""

    def __init__(self, stack: Stack, own_redis: OwnRedis, db: asyncpg.Pool, http: httpx.AsyncClient) -> None:
        self.stack, self.redis, self.db, self.http = stack, own_redis, db, http
        self.sim_url = f"http://127.0.0.1:{stack.ports['simulator']}"
        self.webs = [f"http://127.0.0.1:{stack.ports[w]}" for w in ("web-a", "web-b")]
        self.t0, self.faults, self.snapshots = time.monotonic(), list[tuple[float, str, str]](), list[Any]()
        self.task_ids, self.bots, self.admin = list[int](), list[Bot](), dict[str, str]()

    def note(self, name: str, detail: str) -> None:
        """Log a fault (or event) with its time since the shift began."""
        self.faults.append((time.monotonic() - self.t0, name, detail))
        print(f"[t+{self.faults[-1][0]:5.1f}s] {name}: {detail}", flush=True)

    async def sim(self, method: str, path: str, body: Any = None) -> Any:
        return (await self.http.request(method, self.sim_url + path, json=body)).raise_for_status().json()

    async def api(self, path: str, body: dict[str, Any]) -> Any:
        r = await self.http.post(self.webs[0] + path, json=body, headers=self.admin)
        return r.raise_for_status().json()["data"]

    async def seed(self, operators: int, spread: float) -> None:
        """An admin, the operators, a campaign and 10 tasks per operator due evenly over ``spread`` seconds."""
        await self.db.execute("INSERT INTO operators (login, password_hash, role, first_name, last_name) "
                              "VALUES ('faults-admin', $1, 'admin', 'Админ', 'Скрипта')",
                              await asyncio.to_thread(hash_sync, PASSWORD))
        token = (await self.api("/api/arm/v1/login", {"login": "faults-admin", "password": PASSWORD}))["token"]
        self.admin = {"Authorization": f"Bearer {token}"}
        for i in range(operators):
            await self.api("/api/admin/v1/operators", {"login": f"faults-op{i}", "password": PASSWORD, "role":
                                                       "operator", "firstName": "Бот", "lastName": f"Номер{i}"})
            self.bots.append(Bot(f"faults-op{i}", self.webs[i % 2], seed=i))
        self.campaign = (await self.api("/api/admin/v1/campaigns", {"name": "Под сбоями"}))["id"]
        await self.add_tasks(10 * operators, spread)

    async def add_tasks(self, count: int, spread: float = 0) -> set[str]:
        """``count`` clients enter the campaign (unique phones 79XXXXXXXXX), due over ``spread`` seconds."""
        now, added = datetime.now(UTC), set()
        for i in range(count):
            self.task_ids.append((await self.api(f"/api/admin/v1/campaigns/{self.campaign}/tasks", {
                "phone": f"79{random.randrange(10**9):09d}", "clientInfo": {"lastName": "Клиентова"},
                "taskTime": (now + timedelta(seconds=spread * i / count)).isoformat()}))["campaignTaskId"])
            added.add(str(self.task_ids[-1]))
        return added

    async def snapshot(self) -> Any:
        """GET /_state, kept: a restarted simulator forgets, so the checks merge every snapshot."""
        self.snapshots.append(await self.sim("GET", "/_state"))
        return self.snapshots[-1]

    # -- the faults: each returns what it did -------------------------------------------------------------------

    async def malformed_event(self) -> str:
        """An object that does not parse and a bare string, in one operator's provider session."""
        for bot in self.bots:
            with contextlib.suppress(httpx.HTTPStatusError):  # 404: no provider session just now
                await self.sim("POST", "/_event", {"login": bot.login, "raw": {"type": "call.started", "to": 7}})
                await self.sim("POST", "/_event", {"login": bot.login, "raw": "not an event"})
                return f"two garbage events in {bot.login}'s provider session"
        raise RuntimeError("no operator has a provider session")

    async def kill_telephony_between_send_and_record(self) -> str:
        """The provider creates new tasks but answers 10 s late; kill -9 telephony once it has sent an ADD."""
        await self.sim("POST", "/_faults", {"taskAnswerDelaySeconds": 10})
        try:
            new = await self.add_tasks(3)

            async def posted() -> list[str]:
                return [str(r["body"]["externalId"]) for r in await self.sim("GET", "/_requests?path=/api/v1/tasks")
                        if r["method"] == "POST" and str((r["body"] or {}).get("externalId")) in new]
            sent = await wait_for(posted, 20, "no POST /api/v1/tasks for the new campaign tasks")
            self.stack.stop("telephony", kill=True)
        finally:
            await self.sim("POST", "/_faults", {"taskAnswerDelaySeconds": 0})
        await asyncio.to_thread(self.stack.start, "telephony", "telephony")
        return f"the ADD of campaign task {sent[0]} reached the provider, kill -9 before its answer; restarted"

    async def restart_simulator(self) -> str:
        """Stop and start the provider mid-shift: it forgets sessions, tasks and calls (snapshot kept)."""
        await self.sim("POST", "/_config", {"autoDial": False})  # no new call until every call on reached us:

        async def calls_on_known() -> Any:  # a real provider keeps its events; only calls on and tasks are lost
            state = await self.sim("GET", "/_state")
            on = [c["callId"] for c in state["calls"] if c["status"] == "IN_PROGRESS"]
            known = await self.db.fetchval("SELECT count(*) FROM communications WHERE call_id = ANY($1)", on)
            return state if known == len(on) else None
        with contextlib.suppress(TimeoutError):
            await wait_for(calls_on_known, 5, "calls on at the provider reached the workstation", every=0.05)
        state = await self.snapshot()
        self.stack.stop("simulator")
        await asyncio.to_thread(self.stack.start, "simulator", "telephony.simulator", "/api/v1/health")
        live = sum(c["status"] == "IN_PROGRESS" for c in state["calls"])
        return (f"stopped with {live} call(s) on and {sum(t['status'] == 'NEW' for t in state['tasks'])} task(s) "
                "queued, all forgotten; started again")

    async def restart_redis(self) -> str:
        """Stop redis-server, 2 s down, start it on its port and data: the call-event stream must survive."""
        stream = self.stack.env["REDIS_KEY_PREFIX"] + "call-events"
        before = await asyncio.to_thread(self.redis.xlen, stream)
        await asyncio.to_thread(self.redis.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(self.redis.start)
        return (f"redis-server stopped, down 2 s, started again on its port and append-only file; call-event "
                f"stream {before} entries before, {await asyncio.to_thread(self.redis.xlen, stream)} after")

    async def logout_mid_call(self) -> str:
        """A busy floor: N+2 new clients and 15-s calls, so an operator logs out while the provider's call is on
        and comes back to a queue."""
        await self.sim("POST", "/_config", {"talkSeconds": [15, 15]})
        try:
            await self.add_tasks(len(self.bots) + 2)
            await asyncio.sleep(3.5)  # calls begun before the change have ended

            async def talking() -> tuple[Bot, str] | None:
                on = {s["login"]: s["onCall"] for s in (await self.sim("GET", "/_state"))["sessions"] if s["onCall"]}
                return next(((b, on[b.login]) for b in self.bots if b.on_call and b.token and b.login in on), None)
            bot, call = await wait_for(talking, 30, "nobody was on a call")
        finally:
            await self.sim("POST", "/_config", {"talkSeconds": TALK})
        return f"{bot.login} logged out during call {call} (communication {await bot.log_out_and_back(self.http)}), " \
            "back 3 s later"

    # -- the run ------------------------------------------------------------------------------------------------

    async def run(self, seconds: float) -> bool:
        tasks = [asyncio.create_task(c) for c in (*(b.run(self.http) for b in self.bots), self.stack.supervise())]
        try:
            for at, fault in ((0.1, self.malformed_event), (0.25, self.kill_telephony_between_send_and_record),
                              (0.45, self.restart_simulator), (0.65, self.restart_redis), (0.8, self.logout_mid_call)):
                await asyncio.sleep(max(0.0, self.t0 + at * seconds - time.monotonic()))
                try:
                    self.note(fault.__name__.replace("_", " "), await fault())
                except Exception as exc:
                    self.note(fault.__name__.replace("_", " "), f"FAILED to inject: {exc!r}")
            await asyncio.sleep(max(0.0, self.t0 + seconds - time.monotonic()))
            try:
                self.note("drained", await wait_for(self.idle, 60, "drain", every=1))
            except TimeoutError as exc:
                self.note("drain timed out", str(exc))
        finally:
            for task in tasks:
                task.cancel()
        return await self.report()

    async def idle(self) -> str | None:
        """Drained: no open (or just closed) window, nobody ON_CALL, no command pending, the provider idle."""
        state = await self.sim("GET", "/_state")
        busy = await self.db.fetchval(
            """SELECT (SELECT count(*) FROM communications WHERE state = 'NEW'
                        AND (result_deadline IS NULL OR result_deadline > now() - interval '2 seconds'))
                    + (SELECT count(*) FROM operator_states WHERE state = 'ON_CALL')
                    + (SELECT count(*) FROM telephony_tasks WHERE task_state = 'NEW')""")
        if busy or any(c["status"] == "IN_PROGRESS" for c in state["calls"]) or \
                any(t["status"] == "NEW" for t in state["tasks"]):
            return None
        return "no open window, nobody ON_CALL, no command pending, the provider idle"

    async def report(self) -> bool:
        """Check the invariants against the merged simulator snapshots and the database; print the tables."""
        live = {c["callId"] for c in (await self.snapshot())["calls"] if c["status"] == "IN_PROGRESS"}
        (LOGS / "simulator-states.json").write_text(json.dumps(self.snapshots))
        calls = {c["callId"]: c for snap in self.snapshots for c in snap["calls"]}  # a later snapshot wins
        ptasks = {t["taskId"]: t for snap in self.snapshots for t in snap["tasks"]}
        ours = {str(t) for t in self.task_ids}
        our_calls = {k: c for k, c in calls.items() if c["externalId"] in ours}
        comms = Counter(r["call_id"] for r in await self.db.fetch("SELECT call_id FROM communications"))
        missing, doubled = [c for c in our_calls if not comms[c]], [c for c in our_calls if comms[c] > 1]
        new_left = [f"{r['id']} ({r['call_id']} of operator {r['operator_id']}, {r['window']}, next communication "
                    f"{r['next']} {r['after']} s later, operator now {r['state']})" for r in await self.db.fetch(
            """SELECT c.id, c.call_id, c.operator_id, s.state, n.id AS next,
                      round(extract(epoch FROM n.call_started_at - c.call_started_at), 1) AS after,
                      CASE WHEN c.result_deadline IS NULL THEN 'no window' ELSE 'window closed' END AS window
                 FROM communications c JOIN operator_states s USING (operator_id)
                 LEFT JOIN LATERAL (SELECT id, call_started_at FROM communications WHERE operator_id = c.operator_id
                                       AND id > c.id ORDER BY id LIMIT 1) n ON true WHERE c.state = 'NEW'""")]
        stranded = [f"op {r['operator_id']} ({r['call_id']})" for r in await self.db.fetch(
            """SELECT s.operator_id, c.call_id FROM operator_states s
                 LEFT JOIN communications c ON c.id = s.communication_id WHERE s.state = 'ON_CALL'""")
            if r["call_id"] not in live]
        twice = [k for k, n in Counter(t["externalId"] for t in ptasks.values()).items() if n > 1 and k in ours]
        rung_twice = [k for k, n in Counter(c["externalId"] for c in our_calls.values()).items() if n > 1]
        rows = [("every provider call made exactly one communication", not missing and not doubled,
                 f"{len(our_calls)} calls, {len(missing)} missing {missing[:5]}, {len(doubled)} duplicated"),
                ("every communication FIXED or in rework", not new_left, f"{len(new_left)} NEW left {new_left[:5]}"),
                ("nobody ON_CALL without a live provider call", not stranded, f"{len(stranded)} {stranded[:5]}"),
                ("no client dialled twice", not twice and not rung_twice, f"{len(twice)} campaign tasks with >1 "
                 f"provider task {twice[:5]}, {len(rung_twice)} with >1 call {rung_twice[:5]}")]
        figures = dict(await self.db.fetchrow(  # type: ignore[arg-type]
            """SELECT count(*) AS communications,
                      count(*) FILTER (WHERE state = 'FIXED' AND NOT completed_late) AS "results saved in window",
                      count(*) FILTER (WHERE state = 'FIXED' AND completed_late) AS "completed late",
                      count(*) FILTER (WHERE state = 'DRAFT') AS "drafts in rework" FROM communications"""))
        letters = {r["source"]: r["count"] for r in await self.db.fetch(
            "SELECT source, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1")}
        never = [int(t) for t in ours - {c["externalId"] for c in our_calls.values()}]
        never_rows = [f"{r['id']} {r['task_state']} (ADD {r['add']} as {r['provider_task_id']})"
                      for r in await self.db.fetch(
            """SELECT c.id, c.task_state, t.task_state AS add, t.provider_task_id FROM campaign_tasks c
                 LEFT JOIN LATERAL (SELECT task_state, provider_task_id FROM telephony_tasks WHERE task_type = 'ADD'
                                       AND campaign_task_id = c.id ORDER BY id DESC LIMIT 1) t ON true
                WHERE c.id = ANY($1) ORDER BY c.id""", never)]
        bots = sum((b.stats for b in self.bots), Counter[str]())
        extra = [("provider calls (ours)", len(our_calls)), *figures.items(),
                 ("communications whose call no snapshot lists", sum(n for c, n in comms.items() if c not in calls)),
                 ("campaign tasks never called", f"{len(never)} {never_rows[:5]}"),
                 ("dead letters", letters or 0), ("bots", ", ".join(f"{k} {v}" for k, v in sorted(bots.items())))]
        for head, lines in (("invariant | holds | detail", [(n, "yes" if ok else "**NO**", d) for n, ok, d in rows]),
                            ("figure | value", extra),
                            ("t | fault | detail", [(f"+{t:.1f} s", n, d) for t, n, d in self.faults])):
            print(f"\n| {head} |\n|{'---|' * (head.count('|') + 1)}")
            print("\n".join("| " + " | ".join(map(str, line)) + " |" for line in lines))
        return all(ok for _, ok, _ in rows)


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--operators", type=int, default=6)
    args = parser.parse_args()
    LOGS.mkdir(parents=True, exist_ok=True)
    harness.ARTIFACTS = LOGS  # where WebProcess writes its log
    print(f"logs: {LOGS}", flush=True)
    own_redis = OwnRedis()
    try:
        await asyncio.to_thread(own_redis.start)
        os.environ["REDIS_URL"] = own_redis.url  # scratch_services then starts no Redis of its own
        async with scratch_services("faults") as services:
            conn = await asyncpg.connect(services.database_url)
            await migrate(conn)
            await conn.close()
            ports = {"simulator": free_port(), "telephony": free_port()}
            stack = Stack(services.web_env(
                PROVIDER_URL=f"http://127.0.0.1:{ports['simulator']}", SIM_PORT=str(ports["simulator"]),
                TELEPHONY_PORT=str(ports["telephony"]), **SETTINGS), ports)
            try:
                for name, module, ready in (("web-a", "backend.web", "/health"), ("web-b", "backend.web", "/health"),
                                            ("worker", "backend.worker", None),
                                            ("simulator", "telephony.simulator", "/api/v1/health"),
                                            ("telephony", "telephony", "/health")):
                    await asyncio.to_thread(stack.start, name, module, ready)
                async with asyncpg.create_pool(services.database_url, min_size=1, max_size=4) as db, \
                        httpx.AsyncClient(timeout=5) as http:
                    shift = Shift(stack, own_redis, db, http)
                    stack.note = shift.note
                    await shift.seed(args.operators, spread=0.75 * args.seconds)
                    shift.t0 = time.monotonic()
                    return 0 if await shift.run(args.seconds) else 1
            finally:
                for name in reversed(list(stack.procs)):
                    stack.stop(name)
    finally:
        own_redis.stop()


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # everything was stopped and dropped on the way out
        sys.exit(130)
