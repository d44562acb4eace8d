"""Card push over WebSocket vs. the seed's hasChanges polling, on the real system.

Starts two `web` processes and one `worker` (embedded or *_URL services, scratch database), creates N
operators with live sessions, then

1. push: connects the N operators by WebSocket (the `websockets` client library, half on each web
   process), appends CALL_STARTED events to the call-event stream at R per second for D seconds, and
   measures event accepted (XADD returned) -> CLIENT_CARD_READY received on the operator's socket;
2. poll: the same N operators poll GET /api/arm/v1/hasChanges once a second while events are injected
   at the same rate, and measures the poll latency, the requests per second, and event accepted ->
   the poll that first reports CLIENT_CARD_READY (the seed's design).

3. (default, issue 16) the rate ladder: the Procfile's stack (2 `web`, `worker`, `telephony` with the provider
   simulator), N operators connected, CALL_STARTED appended at each rate of --rates for --seconds each; a row per
   rate: sent, received (cards on the right socket within the phase + 3 s), errors (events whose card did not
   come), p50/p95/p99/max of accepted -> card. With --storm, each rate again while logins saturate argon2 on
   both web processes (--storm-concurrency logins in flight per process). Median of --runs fresh stacks,
   each started once the load average is at most --quiet-load (waiting at most --quiet-timeout s).

Usage: .venv/bin/python -m bench.ws_push [--operators 1000] [--rates 30,60,100,150,200] [--seconds 10] [--runs 3]
                                         [--storm] [--json FILE]
       .venv/bin/python -m bench.ws_push --poll [--operators 1000] [--rate 100] [--seconds 20]   (1 and 2)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import uvloop
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.auth import tokens
from backend.auth.passwords import hash_sync
from backend.core.migrate import migrate
from backend.core.settings import Settings
from bench.common import (
    RawHttp,
    Stack,
    cpu_seconds,
    load_average,
    median_run,
    print_table,
    scratch_services,
    slowest_seconds,
    summary,
    wait_quiet,
)
from tests.harness import Services, WebProcess

CLIENT_INFO = {"fullNameRu": {"name": "Анна", "lastName": "Иванова", "middleName": "Петровна"},
               "fullNameEn": {"name": "Anna", "lastName": "Ivanova"}, "citizenship": "Россия",
               "birthDate": "01.02.1990"}


async def seed(services: Services, n_ops: int, n_tasks: int) -> tuple[list[int], list[str], list[tuple[int, str]]]:
    conn = await asyncpg.connect(services.database_url)
    await migrate(conn)
    op_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO operators (login, password_hash, first_name, last_name)
           SELECT 'bench' || g, 'not-a-hash', 'Оператор', 'Номер' || g FROM generate_series(1, $1) g RETURNING id""",
        n_ops)]
    settings = Settings.from_env({"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url,
                                  "JWT_SECRET": services.jwt_secret})
    now = datetime.now(UTC)
    sessions = [(uuid.uuid4(), op) for op in op_ids]
    await conn.executemany(
        """INSERT INTO operator_sessions (id, operator_id, idle_expires_at, absolute_expires_at)
           VALUES ($1, $2, now() + interval '1 hour', now() + interval '2 hours')""", sessions)
    toks = [tokens.issue(settings, operator_id=op, session_id=sid, role="operator", issued_at=now,
                         expires_at=now + timedelta(hours=2)) for sid, op in sessions]
    campaign = await conn.fetchval(
        "INSERT INTO campaigns (name, description) VALUES ('Бенчмарк', 'Скрипт') RETURNING id")
    phones = [f"79{i:09d}" for i in range(n_tasks)]
    task_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO campaign_tasks (campaign_id, phone, client_info)
           SELECT $1, p, $3::jsonb FROM unnest($2::text[]) p RETURNING id""",
        campaign, phones, json.dumps(CLIENT_INFO))]
    await conn.execute(
        """INSERT INTO client_products (phone, do_id, start_time, status, requested_amount, approved_amount, term,
                                        grace, is_current, interest_rate)
           SELECT p, '3469' || p, now(), '{"dictionaryKey":"scored","dictionaryValue":"Скоринг пройден"}',
                  2500000, 2000000, 21, 7, true, 80 FROM unnest($1::text[]) p""", phones)
    await conn.close()
    return op_ids, toks, list(zip(task_ids, phones, strict=True))


async def push_phase(urls: list[str], toks: list[str], redis: aioredis.Redis, stream: str, op_ids: list[int],
                     tasks: list[tuple[int, str]], rate: float, seconds: float) -> dict[str, Any]:
    accepted: dict[str, float] = {}
    received: dict[str, float] = {}
    sizes: list[int] = []
    frames_per_card: list[int] = []
    sockets = []
    t0 = time.perf_counter()
    for i, token in enumerate(toks):
        ws = await websockets.connect(urls[i % 2].replace("http://", "ws://") + "/api/arm/v1/ws", max_size=2**22)
        await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
        assert json.loads(await ws.recv())["type"] == "HELLO_OK"
        sockets.append(ws)
    connect_seconds = time.perf_counter() - t0

    async def reader(ws: Any) -> None:
        try:
            async for text in ws:
                now = time.perf_counter()
                if '"CLIENT_CARD_READY"' in text:
                    frame = json.loads(text)
                    received[frame["data"]["clientCard"]["clientInfo"]["phone"]] = now
                    sizes.append(len(text.encode()))
                    frames_per_card.append(1)
                elif '"PING"' in text:
                    await ws.send('{"type":"PONG"}')
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    await inject(redis, stream, op_ids, tasks, rate, seconds, accepted, {})
    await asyncio.sleep(2)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    latencies = [received[p] - t for p, t in accepted.items() if p in received]
    return {"connected": len(sockets), "connect_seconds": round(connect_seconds, 2), "events": len(accepted),
            "cards_received": len(latencies), "latency": summary(latencies),
            "bytes_per_card": round(sum(sizes) / len(sizes)) if sizes else 0,
            "frames_per_card": 1 if frames_per_card else 0}


async def poll_phase(urls: list[str], toks: list[str], redis: aioredis.Redis, stream: str, op_ids: list[int],
                     tasks: list[tuple[int, str]], rate: float, seconds: float) -> dict[str, Any]:
    accepted: dict[str, float] = {}
    op_of_phone: dict[str, int] = {}
    seen_at: dict[int, list[float]] = {}
    request_times: list[float] = []
    errors = 0
    stop = asyncio.Event()
    measuring = asyncio.Event()

    async def poller(i: int, token: str) -> None:
        nonlocal errors
        client = RawHttp(urls[i % 2])
        await asyncio.sleep(random.random())
        try:
            while not stop.is_set():
                started = time.perf_counter()
                status, body = await client.get("/api/arm/v1/hasChanges", token)
                done = time.perf_counter()
                if status != 200:
                    errors += 1
                if measuring.is_set():
                    request_times.append(done - started)
                if b"CLIENT_CARD_READY" in body:
                    seen_at.setdefault(op_ids[i], []).append(done)
                await asyncio.sleep(max(0.0, 1 - (done - started)))
        finally:
            client.close()

    pollers = [asyncio.create_task(poller(i, t)) for i, t in enumerate(toks)]
    await asyncio.sleep(3)  # warm-up: connections opened, not measured
    measuring.set()
    started = time.perf_counter()
    await inject(redis, stream, op_ids, tasks, rate, seconds, accepted, op_of_phone)
    elapsed = time.perf_counter() - started
    n_during = len(request_times)
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*pollers, return_exceptions=True)
    detect: list[float] = []
    for phone, t in accepted.items():
        later = [s for s in seen_at.get(op_of_phone[phone], []) if s >= t]
        if later:
            detect.append(min(later) - t)
    return {"operators": len(toks), "requests_per_s": round(n_during / elapsed, 1), "errors": errors,
            "poll_latency": summary(request_times), "event_to_detection": summary(detect), "events": len(accepted)}


async def inject(redis: aioredis.Redis, stream: str, op_ids: list[int], tasks: list[tuple[int, str]],
                          rate: float, seconds: float, accepted: dict[str, float], op_of_phone: dict[str, int]) -> None:
    interval = 1 / rate
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < seconds and tasks:
        task_id, phone = tasks.pop()
        op = random.choice(op_ids)
        payload = {"eventId": secrets.token_hex(8), "type": "CALL_STARTED", "callId": secrets.token_hex(8),
                   "operatorId": op, "campaignTaskId": task_id, "phone": phone,
                   "occurredAt": datetime.now(UTC).isoformat()}
        await redis.xadd(stream, {"event": json.dumps(payload)})
        accepted[phone] = time.perf_counter()
        op_of_phone[phone] = op
        i += 1
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


class Floor:
    """Calls as a dialler connects them: each to an operator not on a call (one in wrap-up may take the next:
    nobody saves here), ended (CALL_ENDED) after a talk of ``low``-``high`` seconds. Calls sent at random
    operators regardless had most of them land on an operator already on a call, which closes that call's
    result window into a draft first: not the floor's work, and more of it than the screen pop's."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.on_call: set[int] = set()
        self.enders: set[asyncio.Task[None]] = set()

    async def inject(self, redis: aioredis.Redis, stream: str, op_ids: list[int], tasks: list[tuple[int, str]],
                     rate: float, seconds: float, accepted: dict[str, float]) -> None:
        interval = 1 / rate
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds and tasks:
            free = len(op_ids) - len(self.on_call)
            if free <= 0:
                raise RuntimeError("every operator is on a call: shorten --call-seconds or add operators")
            task_id, phone = tasks.pop()
            op = random.choice(op_ids)
            while op in self.on_call:
                op = random.choice(op_ids)
            self.on_call.add(op)
            event = {"eventId": secrets.token_hex(8), "type": "CALL_STARTED", "callId": secrets.token_hex(8),
                     "operatorId": op, "campaignTaskId": task_id, "phone": phone,
                     "occurredAt": datetime.now(UTC).isoformat()}
            await redis.xadd(stream, {"event": json.dumps(event)})
            accepted[phone] = time.perf_counter()
            ender = asyncio.create_task(self._end(redis, stream, event, random.uniform(self.low, self.high)))
            self.enders.add(ender)
            ender.add_done_callback(self.enders.discard)
            i += 1
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _end(self, redis: aioredis.Redis, stream: str, started: dict[str, Any], after: float) -> None:
        await asyncio.sleep(after)
        event = {**started, "eventId": secrets.token_hex(8), "type": "CALL_ENDED",
                 "occurredAt": datetime.now(UTC).isoformat()}
        await redis.xadd(stream, {"event": json.dumps(event)})
        self.on_call.discard(started["operatorId"])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100, help="--poll: the one rate")
    parser.add_argument("--rates", default="30,60,100,150,200")
    parser.add_argument("--seconds", type=float, default=None, help="per rate (default 10; --poll: 20)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of calls at the first rate, not measured")
    parser.add_argument("--call-seconds", default="1-4", help="ladder: talk time of a call, low-high seconds")
    parser.add_argument("--storm", action="store_true", help="each rate again during a login storm")
    parser.add_argument("--storm-concurrency", type=int, default=8, help="logins in flight per web process")
    parser.add_argument("--quiet-load", type=float, default=2.0)
    parser.add_argument("--quiet-timeout", type=float, default=120)
    parser.add_argument("--poll", action="store_true", help="push vs hasChanges polling at --rate (1 and 2)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeline", action="store_true",
                        help="--json: each card's (seconds into its phase, latency ms), to lay beside other logs")
    args = parser.parse_args()

    if args.poll:
        args.seconds = args.seconds or 20
        async with scratch_services("bench") as services:
            await run(services, args)
        return
    args.seconds = args.seconds or 10
    rates = [int(r) for r in args.rates.split(",")]
    runs = []
    for n in range(args.runs):
        result = await ladder_run(args, rates)
        runs.append(result)
        print_table(f"run {n + 1} (load average {result['load_before']} before, {result['load_after']} after)",
                    result["rows"], COLS)
        for row in result["rows"]:
            print(f"  {row['phase']} {row['rate']}/s: the slowest 1 % by second of the phase "
                  f"{row['slowest_1pct_by_second']}")
    median = [median_run([r["rows"][k] for r in runs]) for k in range(len(runs[0]["rows"]))]
    print_table(f"screen pop (accepted -> card), {args.operators} operators, 2 web processes: median of "
                f"{args.runs} runs", median, COLS)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "operators": args.operators,
                                         "seconds": args.seconds, "runs": runs, "median": median}, indent=2))


COLS = ("phase", "rate", "sent", "received", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "logins_s", "cpu_pct",
        "load")


async def ladder_run(args: argparse.Namespace, rates: list[int]) -> dict[str, Any]:
    quiet = await asyncio.to_thread(wait_quiet, args.quiet_load, args.quiet_timeout)
    async with scratch_services("bench") as services:
        n_tasks = int((sum(rates) * args.seconds * (2 if args.storm else 1) + rates[0] * args.warmup) * 1.1) + 10
        op_ids, toks, tasks = await seed(services, args.operators, n_tasks)
        # The calls are the injected events: the campaign engine must not also hand these due tasks to the
        # provider simulator meanwhile (it did, ~100 a second, and its dialling rang more calls through
        # telephony on top of the rate measured; bench.poller measures that path).
        conn = await asyncpg.connect(services.database_url)
        await conn.execute("UPDATE campaign_tasks SET task_time = now() + interval '1 day'")
        await conn.close()
        storm_logins = await seed_storm(services, 200) if args.storm else []
        stack = Stack(services, "push")
        try:
            urls = await asyncio.to_thread(stack.start)
            redis = aioredis.Redis.from_url(services.redis_url)
            stream = services.redis_prefix + "call-events"
            rows = await ladder(urls, toks, redis, stream, op_ids, tasks, rates, args, storm_logins,
                                [p for name in ("web", "worker") for p in stack.pids(name)])
            await redis.aclose()
        finally:
            stack.stop()
    return {**quiet, "load_after": load_average(), "rows": rows}


STORM_PASSWORD = "bench-password"


async def seed_storm(services: Services, n: int) -> list[str]:
    """Operators who log in during the storm (real argon2 hashes)."""
    conn = await asyncpg.connect(services.database_url)
    password_hash = hash_sync(STORM_PASSWORD)
    logins = [f"storm{i}" for i in range(n)]
    await conn.executemany(
        "INSERT INTO operators (login, password_hash, first_name, last_name) VALUES ($1, $2, 'S', 'S')",
        [(login, password_hash) for login in logins])
    await conn.close()
    return logins


async def ladder(urls: list[str], toks: list[str], redis: aioredis.Redis, stream: str, op_ids: list[int],
                 tasks: list[tuple[int, str]], rates: list[int], args: argparse.Namespace, storm_logins: list[str],
                 pids: list[int]) -> list[dict[str, Any]]:
    received: dict[str, float] = {}
    sockets = []
    for start in range(0, len(toks), 100):
        async def connect(i: int) -> Any:
            for attempt in range(3):  # a loaded machine may refuse one (4500 when a pool wait times out)
                ws = await websockets.connect(urls[i % 2].replace("http://", "ws://") + "/api/arm/v1/ws",
                                              max_size=2**22, compression=None)
                try:
                    await ws.send(json.dumps({"type": "HELLO", "token": toks[i], "lastSeq": None}))
                    if json.loads(await ws.recv())["type"] == "HELLO_OK":
                        return ws
                except websockets.ConnectionClosed:
                    if attempt == 2:
                        raise
            raise RuntimeError("no HELLO_OK")
        sockets += await asyncio.gather(*(connect(i) for i in range(start, min(start + 100, len(toks)))))

    async def reader(ws: Any) -> None:
        try:
            async for text in ws:
                now = time.perf_counter()
                if '"CLIENT_CARD_READY"' in text:
                    received[json.loads(text)["data"]["clientCard"]["clientInfo"]["phone"]] = now
                elif '"PING"' in text:
                    await ws.send('{"type":"PONG"}')
        except websockets.ConnectionClosed:
            pass

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    # The load generator's own garbage collections must not be measured as the server's latency: its 1,000
    # sockets are a heap a browser does not have, and a full collection of it paused the readers for 35-60 ms.
    gc.collect()
    gc.freeze()
    await asyncio.sleep(2)
    low, high = (float(x) for x in args.call_seconds.split("-"))
    floor = Floor(low, high)
    if args.warmup > 0:
        # Not measured: the first cards after a start prepare every statement on every pooled connection of the
        # worker and the web processes and grow their pools, which put a cold start's tail into the first rate.
        await floor.inject(redis, stream, op_ids, tasks, rates[0], args.warmup, {})
        await asyncio.sleep(3)
    rows = []
    phases = [("base", rate) for rate in rates] + ([("storm", rate) for rate in rates] if args.storm else [])
    for phase, rate in phases:
        accepted: dict[str, float] = {}
        logins = [0]
        stop = asyncio.Event()
        storms = [asyncio.create_task(storm(urls[i % 2], storm_logins, i, stop, logins))
                  for i in range(args.storm_concurrency * 2)] if phase == "storm" else []
        if storms:
            await asyncio.sleep(1)  # the hash pools saturated before the first call
        load = load_average()
        cpu0 = sum(map(cpu_seconds, pids))
        started, started_wall = time.perf_counter(), time.time()
        await floor.inject(redis, stream, op_ids, tasks, rate, args.seconds, accepted)
        elapsed = time.perf_counter() - started
        cpu = sum(map(cpu_seconds, pids)) - cpu0
        stop.set()
        await asyncio.gather(*storms)
        await asyncio.sleep(3)  # late cards still count
        latencies = [received[p] - t for p, t in accepted.items() if p in received]
        timeline = [(t - started, received[p] - t) for p, t in accepted.items() if p in received]
        rows.append({"phase": phase, "rate": rate, "sent": len(accepted), "received": len(latencies),
                     "errors": len(accepted) - len(latencies),
                     **{k: v for k, v in summary(latencies).items() if k != "n"},
                     "logins_s": round(logins[0] / elapsed, 1), "cpu_pct": round(100 * cpu / elapsed), "load": load,
                     # Where the tail is: a few seconds holding the slowest 1 % is a stall, a spread is queueing.
                     "slowest_1pct_by_second": slowest_seconds(timeline), "started_unix": round(started_wall, 3),
                     **({"timeline": sorted((round(t, 3), round(lat * 1000, 1)) for t, lat in timeline)}
                        if args.timeline else {})})
    await asyncio.gather(*floor.enders)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    return rows


async def storm(url: str, logins: list[str], i: int, stop: asyncio.Event, count: list[int]) -> None:
    """Log in one operator after another (a shift starting), until told to stop."""
    client = RawHttp(url)
    n = i
    try:
        while not stop.is_set():
            body = json.dumps({"login": logins[n % len(logins)], "password": STORM_PASSWORD}).encode()
            status, _ = await client.request("POST", "/api/arm/v1/login", "", body)
            if status == 200:
                count[0] += 1
            n += 16
    finally:
        client.close()


async def run(services: Services, args: argparse.Namespace) -> None:
    redis_url = services.redis_url
    procs: list[WebProcess] = []
    try:
        n_tasks = int(args.rate * args.seconds * 2.2) + 10
        op_ids, toks, tasks = await seed(services, args.operators, n_tasks)
        env = services.web_env(LOG_LEVEL="WARNING", DB_POOL_MAX_SIZE="20")
        procs = [WebProcess(env, "bench-a"), WebProcess(env, "bench-b"),
                 WebProcess(env, "bench", module="backend.worker")]
        for proc in procs[:2]:
            await asyncio.to_thread(proc.wait_ready)
        urls = [p.url for p in procs[:2]]
        redis = aioredis.Redis.from_url(redis_url)
        stream = services.redis_prefix + "call-events"
        push = await push_phase(urls, toks, redis, stream, op_ids, tasks, args.rate, args.seconds)
        poll = await poll_phase(urls, toks, redis, stream, op_ids, tasks, args.rate, args.seconds)
        await redis.aclose()
        report = {"cpus": os.cpu_count(), "operators": args.operators, "rate_per_s": args.rate,
                  "seconds": args.seconds, "push": push, "poll": poll}
        print(f"{'':34}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for label, s in (("push: accepted -> card on socket", push["latency"]),
                         ("poll: hasChanges request", poll["poll_latency"]),
                         ("poll: accepted -> change seen", poll["event_to_detection"])):
            print(f"{label:34}{s.get('n', 0):>7}{s.get('p50_ms', '-'):>9}{s.get('p95_ms', '-'):>9}"
                  f"{s.get('p99_ms', '-'):>9}{s.get('max_ms', '-'):>9}")
        print(f"push: {push['cards_received']}/{push['events']} cards, {push['frames_per_card']} frame and "
              f"{push['bytes_per_card']} bytes per card, {push['connected']} sockets connected in "
              f"{push['connect_seconds']} s")
        print(f"poll: {poll['requests_per_s']} requests/s from {poll['operators']} operators")
        print(json.dumps(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        for proc in procs:
            proc.stop()


if __name__ == "__main__":
    uvloop.run(main())  # the client must not be what limits the bench
