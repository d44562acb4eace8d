"""The telephony poller at floor scale (issue 21), on the real system.

Starts the provider simulator (autodial off), one `web`, one `worker` and one `telephony` process (embedded or
*_URL services, scratch database), creates operators with live workstation sessions (telephony opens a provider
session for each and polls it every POLL_INTERVAL_SECONDS), then

1. idle: with N = 100/500/1,000/2,000 operators logged in and no calls, measures over --seconds the polls the
   simulator received (from its request log): achieved vs target polls/s, each operator's interval between
   two polls (median = the cycle, p1/p99, the share within ±10 % of the interval), how flat the load is (the
   busiest 50 ms slot against the mean), and the CPU of the telephony process and of the simulator (share of
   one core, from /proc);
2. calls: with --call-operators (1,000) logged in and connected by WebSocket, rings operators through the
   simulator (`POST /_call`, round robin over operators, a 1 s call) at 10/30/60 calls/s for --seconds each,
   and measures provider call start (just before `/_call`) -> CLIENT_CARD_READY on that operator's socket:
   p50/p95/p99/max, calls started, cards received (waiting up to 15 s after the last call), duplicate cards.

Each run is a fresh stack; with --runs 3 (the default) the tables show each cell's median over the runs.
With --telephony N, N telephony processes share the operators by leases (issue 18): the CPU shown is theirs
added up, and the idle phase counts operators polled by more than one of them (``polled_by_two``, from the
simulator's GET /_polls; it must be 0).
Usage: .venv/bin/python -m bench.poller [--runs 3] [--seconds 10] [--operators 100,500,1000,2000]
                                        [--rates 10,30,60] [--call-operators 1000] [--telephony 1]
                                        [--json FILE] [--show FILE]
The call table also shows the poller's share (provider call start -> appended to the call-event stream, from
the stream's own timestamps) and the whole machine's CPU (other work on a shared box shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.auth import tokens
from backend.core.migrate import migrate
from backend.core.settings import Settings
from bench.common import scratch_services, summary
from bench.ws_push import CLIENT_INFO
from tests.harness import Services, WebProcess, free_port

INTERVAL = 0.5
TICK = os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat), for its share of busy CPU."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


Operator = tuple[int, str, str]  # id, login, access token


async def seed(services: Services, n_ops: int, n_tasks: int) -> tuple[list[Operator], list[tuple[int, str]]]:
    """Operators (login, token) with a session each, revoked for now; campaign tasks already handed over
    (IN_PROGRESS: the worker's engine leaves them alone), each with a product for the card."""
    conn = await asyncpg.connect(services.database_url)
    await migrate(conn)
    rows = await conn.fetch(
        """INSERT INTO operators (login, password_hash, first_name, last_name)
           SELECT 'poll' || g, 'not-a-hash', 'Оператор', 'Номер' || g FROM generate_series(1, $1) g
           RETURNING id, login""", n_ops)
    settings = Settings.from_env({"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url,
                                  "JWT_SECRET": services.jwt_secret})
    now = datetime.now(UTC)
    sessions = [(uuid.uuid4(), r["id"]) for r in rows]
    await conn.executemany(
        """INSERT INTO operator_sessions (id, operator_id, idle_expires_at, absolute_expires_at, revoked_at)
           VALUES ($1, $2, now() + interval '2 hours', now() + interval '3 hours', now())""", sessions)
    ops = [(r["id"], r["login"], tokens.issue(settings, operator_id=r["id"], session_id=sid, role="operator",
                                              issued_at=now, expires_at=now + timedelta(hours=3)))
           for r, (sid, _) in zip(rows, sessions, strict=True)]
    campaign = await conn.fetchval(
        "INSERT INTO campaigns (name, description) VALUES ('Поллер', 'Скрипт') RETURNING id")
    phones = [f"79{i:09d}" for i in range(n_tasks)]
    task_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO campaign_tasks (campaign_id, phone, client_info, task_state)
           SELECT $1, p, $3::jsonb, 'IN_PROGRESS' FROM unnest($2::text[]) p RETURNING id""",
        campaign, phones, json.dumps(CLIENT_INFO))]
    await conn.execute(
        """INSERT INTO client_products (phone, do_id, start_time, status, requested_amount, approved_amount, term,
                                        grace, is_current, interest_rate)
           SELECT p, '3469' || p, now(), '{"dictionaryKey":"scored","dictionaryValue":"Скоринг пройден"}',
                  2500000, 2000000, 21, 7, true, 80 FROM unnest($1::text[]) p""", phones)
    await conn.close()
    return ops, list(zip(task_ids, phones, strict=True))


class Stack:
    def __init__(self, services: Services, extra_env: dict[str, str]) -> None:
        self.sim_port, self.tel_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.env = services.web_env(
            LOG_LEVEL="WARNING", PROVIDER_URL=self.sim_url, SIM_PORT=str(self.sim_port), SIM_AUTODIAL="0",
            SIM_REQUEST_LOG="200000", TELEPHONY_PORT=str(self.tel_port), POLL_INTERVAL_SECONDS=str(INTERVAL),
            RESULT_WINDOW_SECONDS="2", DB_POOL_MAX_SIZE="20", **extra_env)
        self.procs: dict[str, WebProcess] = {}

    def start(self) -> None:
        self.procs["simulator"] = WebProcess(self.env, "poller-sim", module="telephony.simulator")
        self.procs["web"] = WebProcess(self.env, "poller")
        self.procs["worker"] = WebProcess(self.env, "poller", module="backend.worker")
        self.procs["web"].wait_ready()

    def start_telephony(self, count: int = 1) -> None:
        """``count`` telephony processes sharing the operators by leases (issue 18), each its own port."""
        self.tel_ports = [self.tel_port] + [free_port() for _ in range(count - 1)]
        for i, port in enumerate(self.tel_ports):
            self.procs["telephony" if i == 0 else f"telephony{i}"] = WebProcess(
                dict(self.env, TELEPHONY_PORT=str(port)), f"poller{i}", module="telephony")

    def pids(self, name: str) -> list[int]:
        """The process's pid; for "telephony", those of all telephony processes (their CPU is added up)."""
        return [p.proc.pid for key, p in self.procs.items()
                if key == name or (name == "telephony" and key.startswith("telephony"))]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


async def wait_for(what: str, check: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.25)


async def set_logged_in(db: asyncpg.Connection, http: aiohttp.ClientSession, stack: Stack,
                        ops: list[Operator], n: int) -> None:
    """The first n operators have a live workstation session, the rest not; wait until telephony polls
    exactly those n (it reconciles every 3 s)."""
    ids = [op for op, _, _ in ops]
    await db.execute("UPDATE operator_sessions SET revoked_at = NULL WHERE operator_id = ANY($1::bigint[])", ids[:n])
    await db.execute("UPDATE operator_sessions SET revoked_at = now() WHERE operator_id = ANY($1::bigint[])", ids[n:])

    async def settled() -> bool:
        with contextlib.suppress(aiohttp.ClientError, ValueError, TypeError):
            active = 0
            for port in stack.tel_ports:
                async with http.get(f"http://127.0.0.1:{port}/health") as r:
                    active += (await r.json(content_type=None)).get("activeSessions")
            async with http.get(stack.sim_url + "/_state") as r:
                sessions = len((await r.json())["sessions"])
            return bool(active == n and sessions == n)
        return False

    await wait_for(f"{n} operators polled", settled)


async def idle_phase(http: aiohttp.ClientSession, stack: Stack, n: int, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(3)  # the newly opened sessions find their phase
    cpu0 = {name: sum(map(cpu_seconds, stack.pids(name))) for name in ("telephony", "simulator")}
    started = time.time()
    await asyncio.sleep(seconds)
    ended = time.time()
    cpu = {name: round(100 * (sum(map(cpu_seconds, stack.pids(name))) - c) / (ended - started), 1)
           for name, c in cpu0.items()}
    async with http.get(stack.sim_url + "/_polls") as r:  # runs of polls by one client, per operator
        shared = sum(len({run["agent"] for run in runs if run["last"] >= started}) > 1
                     for runs in (await r.json()).values())
    async with http.get(stack.sim_url + "/_requests", params={"path": "/api/v1/sessions/"}) as r:
        log = await r.json()
    polls = [(q["path"], q["at"]) for q in log
             if q["method"] == "GET" and q["path"].endswith("/events") and started <= q["at"] < ended]
    by_operator: defaultdict[str, list[float]] = defaultdict(list)
    for path, at in polls:
        by_operator[path].append(at)
    gaps = sorted(b - a for times in by_operator.values() for a, b in itertools.pairwise(times))
    slots = Counter(int((at - started) / 0.05) for _, at in polls)
    mean_slot = len(polls) / (seconds / 0.05) if polls else 0

    def pct(p: float) -> float:
        return round(gaps[min(len(gaps) - 1, int(p / 100 * len(gaps)))], 3) if gaps else 0.0

    return {"operators": n, "target_per_s": round(n / INTERVAL), "achieved_per_s": round(len(polls) / seconds),
            "polled_operators": len(by_operator), "interval_p50_s": pct(50), "interval_p1_s": pct(1),
            "interval_p99_s": pct(99), "interval_max_s": round(gaps[-1], 3) if gaps else 0.0,
            "within_10pct": round(100 * sum(abs(g - INTERVAL) <= INTERVAL / 10 for g in gaps) / len(gaps), 1)
            if gaps else 0.0,
            "busiest_50ms_vs_mean": round(max(slots.values()) / mean_slot, 2) if mean_slot else 0.0,
            "polled_by_two": shared, "telephony_cpu_pct": cpu["telephony"], "simulator_cpu_pct": cpu["simulator"]}


async def appended_lag(services: Services, phones: set[str]) -> dict[str, float]:
    """Provider call start (the event's occurredAt) -> appended to the call-event stream (appendedAt), from
    the stream itself: the poller's share of the latency."""
    redis = aioredis.Redis.from_url(services.redis_url)
    try:
        entries = await redis.xrange(services.redis_prefix + "call-events")
    finally:
        await redis.aclose()
    lags = []
    for _, fields in entries:
        event = json.loads(fields[b"event"])
        if event["type"] == "CALL_STARTED" and event["phone"] in phones:
            lags.append((datetime.fromisoformat(event["appendedAt"]) -
                         datetime.fromisoformat(event["occurredAt"])).total_seconds())
    return summary(lags)


async def call_phases(http: aiohttp.ClientSession, stack: Stack, ops: list[Operator],
                      tasks: list[tuple[int, str]], rates: list[float], seconds: float,
                      services: Services) -> list[dict[str, Any]]:
    cards: defaultdict[str, list[float]] = defaultdict(list)
    ws_url = stack.procs["web"].url.replace("http://", "ws://") + "/api/arm/v1/ws"
    sockets = []
    for _, _, token in ops:
        ws = await websockets.connect(ws_url, max_size=2**22)
        await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
        assert json.loads(await ws.recv())["type"] == "HELLO_OK"
        sockets.append(ws)

    async def reader(ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                now = time.perf_counter()
                if '"CLIENT_CARD_READY"' in text:
                    cards[json.loads(text)["data"]["clientCard"]["clientInfo"]["phone"]].append(now)
                elif '"PING"' in text:
                    await ws.send('{"type":"PONG"}')

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    results = []
    turn = 0
    try:
        for rate in rates:
            started: dict[str, float] = {}
            refused = 0
            cpu0 = {name: sum(map(cpu_seconds, stack.pids(name)))
                    for name in ("telephony", "simulator", "worker", "web")}
            cpu0["bench"] = cpu_seconds(os.getpid())
            busy0 = machine_busy()
            t0 = time.perf_counter()
            calls = int(rate * seconds)
            pending = []

            async def ring(login: str, task_id: int, phone: str, started: dict[str, float] = started) -> None:
                nonlocal refused
                at = time.perf_counter()
                async with http.post(stack.sim_url + "/_call", json={
                        "login": login, "phone": phone, "externalId": str(task_id), "talkSeconds": 1}) as r:
                    if r.status == 200:
                        started[phone] = at
                    else:
                        refused += 1

            for i in range(calls):
                _, login, _ = ops[turn % len(ops)]
                turn += 1
                task_id, phone = tasks.pop()
                pending.append(asyncio.create_task(ring(login, task_id, phone)))
                delay = t0 + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*pending)
            elapsed = time.perf_counter() - t0
            pids = {**{name: stack.pids(name) for name in cpu0}, "bench": [os.getpid()]}
            cpu = {name: round(100 * (sum(map(cpu_seconds, pids[name])) - c) / elapsed, 1) for name, c in cpu0.items()}
            busy1 = machine_busy()
            cpu["machine"] = round(100 * os.cpu_count() * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1)
            drain = time.perf_counter() + 15  # the last cards arrive (late is not lost: wait up to 15 s)
            while time.perf_counter() < drain and any(not cards.get(p) for p in started):
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # calls end and their 2 s windows expire before the next rate
            latencies = [cards[p][0] - t for p, t in started.items() if cards.get(p)]
            results.append({"rate_per_s": rate, "started": len(started), "refused": refused,
                            "received": len(latencies),
                            "duplicates": sum(len(cards[p]) - 1 for p in started if cards.get(p)),
                            "latency": summary(latencies), "to_stream": await appended_lag(services, set(started)),
                            "telephony_cpu_pct": cpu["telephony"], "simulator_cpu_pct": cpu["simulator"],
                            "worker_cpu_pct": cpu["worker"], "web_cpu_pct": cpu["web"], "bench_cpu_pct": cpu["bench"],
                            "machine_cpu_pct": cpu["machine"]})
            print(f"  calls {rate:g}/s: {results[-1]}", flush=True)
    finally:
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    return results


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_services("bench") as services:
        sizes = sorted(args.operators)
        n_tasks = int(sum(args.rates) * args.seconds) + 100
        ops, tasks = await seed(services, max([*sizes, args.call_operators]), n_tasks)
        stack = Stack(services, {})
        db = await asyncpg.connect(services.database_url)
        try:
            stack.start()
            async with aiohttp.ClientSession() as http:
                await wait_for("simulator up", lambda: _up(http, stack.sim_url + "/api/v1/health"), 30)
                stack.start_telephony(args.telephony)
                idle = []
                calls: list[dict[str, Any]] = []
                for n in sizes:
                    await set_logged_in(db, http, stack, ops, n)
                    idle.append(await idle_phase(http, stack, n, args.seconds))
                    print(f"  idle {n}: {idle[-1]}", flush=True)
                    if n == args.call_operators and args.rates:
                        calls = await call_phases(http, stack, ops[:n], tasks, args.rates, args.seconds, services)
                if args.rates and not calls:
                    await set_logged_in(db, http, stack, ops, args.call_operators)
                    calls = await call_phases(http, stack, ops[:args.call_operators], tasks, args.rates,
                                              args.seconds, services)
        finally:
            await db.close()
            stack.stop()
    return {"idle": idle, "calls": calls}


async def _up(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


def median_of(runs: list[dict[str, Any]], key: str, index: int, field: str) -> float:
    """The median over runs of one cell (a dotted field); NaN where the runs did not measure it."""
    values = []
    for run in runs:
        value: Any = run[key][index]
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            values.append(float(value))
    return round(statistics.median(values), 2) if values else float("nan")


def tables(runs: list[dict[str, Any]]) -> str:
    out = [f"Idle (median of {len(runs)} run(s), interval {INTERVAL} s, {os.cpu_count()} cores):", "",
           "| operators | target polls/s | achieved polls/s | per-operator interval p50 (p1–p99) s "
           "| within ±10 % | busiest 50 ms / mean | telephony CPU | simulator CPU |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, row in enumerate(runs[0]["idle"]):
        def m(f: str, i: int = i) -> float:
            return median_of(runs, "idle", i, f)
        out.append(f"| {row['operators']:,} | {row['target_per_s']:,} | {m('achieved_per_s'):,.0f} "
                   f"| {m('interval_p50_s'):.3f} ({m('interval_p1_s'):.3f}–{m('interval_p99_s'):.3f}) "
                   f"| {m('within_10pct'):.1f} % | {m('busiest_50ms_vs_mean'):.2f} "
                   f"| {m('telephony_cpu_pct'):.0f} % | {m('simulator_cpu_pct'):.0f} % |")
    if runs[0]["calls"]:
        out += ["", f"Calls: provider call start -> card on the operator's socket (median of {len(runs)} run(s)):",
                "", "| calls/s | p50 ms | p95 ms | p99 ms | max ms | started | received | duplicates "
                "| provider → stream p50 / p99 ms | telephony CPU | simulator CPU | whole machine CPU |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for i, row in enumerate(runs[0]["calls"]):
            def c(f: str, i: int = i) -> float:
                return median_of(runs, "calls", i, f)
            out.append(f"| {row['rate_per_s']:g} | {c('latency.p50_ms'):.0f} | {c('latency.p95_ms'):.0f} "
                       f"| {c('latency.p99_ms'):.0f} | {c('latency.max_ms'):.0f} | {c('started'):.0f} "
                       f"| {c('received'):.0f} | {c('duplicates'):.0f} "
                       f"| {c('to_stream.p50_ms'):.0f} / {c('to_stream.p99_ms'):.0f} "
                       f"| {c('telephony_cpu_pct'):.0f} % | {c('simulator_cpu_pct'):.0f} % "
                       f"| {c('machine_cpu_pct'):.0f} % of {100 * (os.cpu_count() or 1)} |")
    return "\n".join(out)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--operators", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 500, 1000,
                                                                                                      2000])
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",") if x], default=[10, 30, 60])
    parser.add_argument("--call-operators", type=int, default=1000)
    parser.add_argument("--telephony", type=int, default=1,
                        help="telephony processes sharing the operators (their CPU is added up)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show", type=Path, help="print the tables of runs saved with --json, and stop")
    args = parser.parse_args()
    if args.show:
        print(tables(json.loads(args.show.read_text())["runs"]))
        return
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1}/{args.runs} (load {os.getloadavg()[0]:.2f})", flush=True)
        runs.append(await one_run(args))
    print()
    print(tables(runs))
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "interval": INTERVAL, "runs": runs}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
