"""Supervisors watching the floor while operators take calls, on the real system.

Starts two `web` processes and one `worker` (embedded or *_URL services, scratch database), creates N
operators with live sessions connected by WebSocket (half on each web process), then runs phases of D seconds
each, alternating, in one run:

* ``base``: calls arrive at R per second (CALL_STARTED on the call-event stream, CALL_ENDED 3-8 s later); no
  supervisor is connected;
* ``watched``: the same, while S supervisor sockets (half on each web process) follow the floor.

Measured: the operators' screen-pop (event accepted, XADD returned -> CLIENT_CARD_READY on the operator's
socket) in each phase, and, in the watched phases, event accepted -> the first FLOOR_DELTA carrying that change
(the operator ON_CALL with this call's start, or WRAP_UP after its end) on each supervisor socket.

The supervisor sockets are read by a second process (``--watch-child``, at nice 19), as supervisors sit at
other computers: decoding ~5,000 deltas a second in the operators' reader would delay the cards it timestamps
and charge the product for the load generator's own work. Both processes stamp with ``time.perf_counter``
(CLOCK_MONOTONIC on Linux, one clock for the machine). A call goes to an operator not already on a call, as a
dialler does (one in wrap-up may take the next call: nobody saves in this bench).

Usage: .venv/bin/python -m bench.supervisors [--operators 1000] [--rate 60] [--seconds 30] [--supervisors 50]
                                             [--rounds 1] [--warmup 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.auth import tokens
from backend.core.settings import Settings
from bench.common import scratch_services, summary
from bench.ws_push import seed
from tests.harness import Services, WebProcess

_decode = msgspec.json.decode


async def supervisor_tokens(services: Services, n: int) -> list[str]:
    conn = await asyncpg.connect(services.database_url)
    ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO operators (login, password_hash, role, first_name, last_name)
           SELECT 'sup' || g, 'not-a-hash', 'supervisor', 'Супервизор', 'Номер' || g
             FROM generate_series(1, $1) g RETURNING id""", n)]
    sessions = [(uuid.uuid4(), i) for i in ids]
    await conn.executemany(
        """INSERT INTO operator_sessions (id, operator_id, idle_expires_at, absolute_expires_at)
           VALUES ($1, $2, now() + interval '1 hour', now() + interval '2 hours')""", sessions)
    await conn.close()
    settings = Settings.from_env({"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url,
                                  "JWT_SECRET": services.jwt_secret})
    now = datetime.now(UTC)
    return [tokens.issue(settings, operator_id=i, session_id=s, role="supervisor", issued_at=now,
                         expires_at=now + timedelta(hours=2)) for s, i in sessions]


class Calls:
    """The call traffic and what each side saw of it."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}  # phone -> when CALL_STARTED was accepted
        self.card_at: dict[str, float] = {}  # phone -> when its card reached the operator's socket
        self.changes: dict[tuple[int, str, int], float] = {}  # (operator, state, call start ms) -> accepted
        self.seen: list[float] = []  # change accepted -> delta on a supervisor socket, per socket and change
        self.on_call: set[int] = set()

    async def inject(self, redis: aioredis.Redis, stream: str, op_ids: list[int], tasks: list[tuple[int, str]],
                     rate: float, seconds: float) -> None:
        interval = 1 / rate
        start = time.perf_counter()
        enders: list[asyncio.Task[None]] = []
        i = 0
        while time.perf_counter() - start < seconds and tasks:
            task_id, phone = tasks.pop()
            op = random.choice(op_ids)
            while op in self.on_call:
                op = random.choice(op_ids)
            self.on_call.add(op)
            occurred = datetime.now(UTC)
            event = {"eventId": secrets.token_hex(8), "type": "CALL_STARTED", "callId": secrets.token_hex(8),
                     "operatorId": op, "campaignTaskId": task_id, "phone": phone, "occurredAt": occurred.isoformat()}
            await redis.xadd(stream, {"event": json.dumps(event)})
            now = time.perf_counter()
            self.accepted[phone] = now
            start_ms = int(occurred.timestamp() * 1000)
            self.changes[(op, "ON_CALL", start_ms)] = now
            enders.append(asyncio.create_task(self._end(redis, stream, event, start_ms, random.uniform(3, 8))))
            i += 1
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*enders)

    async def _end(self, redis: aioredis.Redis, stream: str, started: dict[str, Any], start_ms: int,
                   after: float) -> None:
        await asyncio.sleep(after)
        event = {**started, "eventId": secrets.token_hex(8), "type": "CALL_ENDED",
                 "occurredAt": datetime.now(UTC).isoformat()}
        await redis.xadd(stream, {"event": json.dumps(event)})
        self.changes[(started["operatorId"], "WRAP_UP", start_ms)] = time.perf_counter()
        self.on_call.discard(started["operatorId"])


async def operator_reader(ws: Any, calls: Calls) -> None:
    try:
        async for text in ws:
            if '"CLIENT_CARD_READY"' in text:
                now = time.perf_counter()
                calls.card_at[_decode(text)["data"]["clientCard"]["clientInfo"]["phone"]] = now
            elif '"PING"' in text:
                await ws.send('{"type":"PONG"}')
    except websockets.ConnectionClosed:
        pass


async def supervisor_reader(ws: Any, first: dict[str, list[float]], traffic: list[int]) -> None:
    # A row is re-sent whenever any of its fields moves (calls today, the last screen-pop latency, a counter),
    # still carrying the same state and call start: only the first delta showing a change measures its delay.
    got: set[str] = set()
    try:
        async for text in ws:
            now = time.perf_counter()
            traffic[0] += 1
            traffic[1] += len(text)
            if '"FLOOR_DELTA"' in text:
                for row in (_decode(text)["data"].get("operators") or {}).values():
                    if row["callStartedAt"] is None:
                        continue
                    key = f'{row["id"]}|{row["state"]}|{row["callStartedAt"]}'
                    if key not in got:
                        got.add(key)
                        first.setdefault(key, []).append(now)
            elif '"PING"' in text:
                await ws.send('{"type":"PONG"}')
    except websockets.ConnectionClosed:
        pass


async def watch(urls: list[str], sup_tokens: list[str], control: Path) -> None:
    """The supervisors' computers: connect, say so, read deltas until told to stop, write what was seen. At
    nice 19: their browsers run on other machines, so reading 50 sockets' deltas (~9 % of a core here) should
    not take CPU from the servers measured; the delays it measures include its own waits for a core."""
    os.nice(19)
    first: dict[str, list[float]] = {}
    traffic = [0, 0]
    sups = [await connect(urls[i % 2], "/api/supervisor/v1/ws", t) for i, t in enumerate(sup_tokens)]
    readers = [asyncio.create_task(supervisor_reader(ws, first, traffic)) for ws in sups]
    cpu, started = sum(os.times()[:2]), time.perf_counter()
    control.with_suffix(".ready").touch()
    stop = control.with_suffix(".stop")
    while not stop.exists():
        await asyncio.sleep(0.05)
    for ws in sups:
        await ws.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    cpu_percent = round((sum(os.times()[:2]) - cpu) / (time.perf_counter() - started) * 100, 1)
    control.with_suffix(".json").write_text(json.dumps({"sockets": len(sups), "first": first, "frames": traffic[0],
                                                        "bytes": traffic[1], "cpu_percent": cpu_percent}))


class Watchers:
    """The child process reading the supervisor sockets (see the module's docstring)."""

    def __init__(self, urls: list[str], sup_tokens: list[str], control: Path) -> None:
        self.control = control
        for suffix in (".ready", ".stop", ".json", ".in"):
            control.with_suffix(suffix).unlink(missing_ok=True)
        control.with_suffix(".in").write_text(json.dumps({"urls": urls, "tokens": sup_tokens}))
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.supervisors", "--watch-child", str(self.control),
            cwd=str(Path(__file__).resolve().parents[1]))
        while not self.control.with_suffix(".ready").exists():
            if self.proc.returncode is not None:
                raise RuntimeError("the supervisors' process failed")
            await asyncio.sleep(0.05)

    async def stop(self) -> dict[str, Any]:
        """What the supervisors saw: sockets, first (change key -> first delivery per socket), frames, bytes
        and the reading process's CPU (it shares the machine with the system measured)."""
        self.control.with_suffix(".stop").touch()
        assert self.proc is not None
        await self.proc.wait()
        seen: dict[str, Any] = json.loads(self.control.with_suffix(".json").read_text())
        return seen


async def connect(url: str, path: str, token: str) -> Any:
    ws = await websockets.connect(url.replace("http://", "ws://") + path, max_size=2**24)
    await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
    hello = _decode(await ws.recv())
    assert hello["type"] == "HELLO_OK", hello
    return ws


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc; Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (the worker's floor computer)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


async def phase(name: str, urls: list[str], sup_tokens: list[str], redis: aioredis.Redis, stream: str,
                op_ids: list[int], tasks: list[tuple[int, str]], op_sockets: list[Any], rate: float,
                seconds: float, procs: list[WebProcess], control: Path) -> dict[str, Any]:
    calls = Calls()
    readers = [asyncio.create_task(operator_reader(ws, calls)) for ws in op_sockets]
    watchers = Watchers(urls, sup_tokens, control) if sup_tokens else None
    if watchers:
        await watchers.start()
    await asyncio.sleep(2)
    pids = [p.proc.pid for p in procs] + children(procs[-1].proc.pid)  # the worker's floor computer too
    cpu_before = [cpu_seconds(pid) for pid in pids]
    client_before = sum(os.times()[:2])
    started = time.perf_counter()
    await calls.inject(redis, stream, op_ids, tasks, rate, seconds)
    elapsed = time.perf_counter() - started
    cpu = [round((cpu_seconds(pid) - b) / elapsed * 100, 1) for pid, b in zip(pids, cpu_before, strict=True)]
    floor_cpu = round(sum(cpu[3:]), 1)
    cpu = [*cpu[:3], round((sum(os.times()[:2]) - client_before) / elapsed * 100, 1)]
    await asyncio.sleep(2)
    seen: dict[str, Any] = await watchers.stop() if watchers else {"sockets": 0, "first": {}}
    n_sups, first = seen["sockets"], seen["first"]
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for (op, state, start_ms), accepted in calls.changes.items():
        calls.seen += [t - accepted for t in first.get(f"{op}|{state}|{start_ms}", [])]
    pops = [calls.card_at[p] - t for p, t in calls.accepted.items() if p in calls.card_at]
    expected = len(calls.changes) * n_sups
    return {"phase": name, "supervisors": n_sups, "calls": len(calls.accepted), "cards": len(pops),
            "screen_pop": summary(pops), "screen_pop_raw": pops, "changes": len(calls.changes),
            "supervisor_deliveries": len(calls.seen), "supervisor_deliveries_expected": expected,
            "change_to_supervisor": summary(calls.seen),
            "supervisor_frames": seen.get("frames", 0), "supervisor_bytes": seen.get("bytes", 0),
            "cpu_percent": {"web_a": cpu[0], "web_b": cpu[1], "worker": cpu[2], "floor": floor_cpu,
                            "bench_client": cpu[3],
                            "supervisors_client": seen.get("cpu_percent", 0.0)}}


async def run(services: Services, args: argparse.Namespace) -> dict[str, Any]:
    procs: list[WebProcess] = []
    try:
        n_tasks = int(args.rate * (args.seconds * 2 * args.rounds + args.warmup) * 1.1) + 10
        op_ids, toks, tasks = await seed(services, args.operators, n_tasks)
        # The calls come from the injected events: the campaign engine must not hand these tasks over meanwhile
        # (that is another bench's load, and it would burden whichever phase runs first).
        conn = await asyncpg.connect(services.database_url)
        await conn.execute("UPDATE campaign_tasks SET task_time = now() + interval '1 day'")
        await conn.close()
        sup_tokens = await supervisor_tokens(services, args.supervisors)
        env = services.web_env(LOG_LEVEL="WARNING", DB_POOL_MAX_SIZE="20")
        procs = [WebProcess(env, "sup-a"), WebProcess(env, "sup-b"), WebProcess(env, "sup", module="backend.worker")]
        for proc in procs[:2]:
            await asyncio.to_thread(proc.wait_ready)
        urls = [p.url for p in procs[:2]]
        redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(services.redis_url,
                                                                                       max_connections=32))
        stream = services.redis_prefix + "call-events"
        control = Path(tempfile.mkdtemp(prefix="bench-sup-")) / "watch"
        op_sockets = [await connect(urls[i % 2], "/api/arm/v1/ws", t) for i, t in enumerate(toks)]
        gc.collect()  # the generator's own collections must not be measured as the product's latency
        gc.freeze()
        await asyncio.sleep(3)
        phases = []
        if args.warmup:  # the first seconds after 1,000 sockets connect (caches, pools, JIT-less warm paths)
            await phase("warm-up", urls, [], redis, stream, op_ids, tasks, op_sockets, args.rate, args.warmup,
                        procs, control)
        for i in range(args.rounds):
            # ABBA: odd rounds watched first, so that a drift over the run (tables growing, a checkpoint's
            # rhythm) burdens neither kind of phase more than the other.
            order = (("base", []), ("watched", sup_tokens))
            for name, sups in order if i % 2 == 0 else order[::-1]:
                phases.append(await phase(name, urls, sups, redis, stream, op_ids, tasks, op_sockets, args.rate,
                                          args.seconds, procs, control))
        for ws in op_sockets:
            await ws.close()
        await redis.aclose()
        return {"cpus": os.cpu_count(), "operators": args.operators, "rate_per_s": args.rate,
                "seconds": args.seconds, "supervisors": args.supervisors, "phases": phases}
    finally:
        for proc in procs:
            proc.stop()


def report(result: dict[str, Any]) -> None:
    print(f"{'':38}{'n':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for p in result["phases"]:
        rows = [(f"{p['phase']}: accepted -> card (operator)", p["screen_pop"])]
        if p["supervisors"]:
            rows.append((f"{p['phase']}: change -> supervisor delta", p["change_to_supervisor"]))
        for label, s in rows:
            print(f"{label:38}{s.get('n', 0):>8}{s.get('p50_ms', '-'):>9}{s.get('p95_ms', '-'):>9}"
                  f"{s.get('p99_ms', '-'):>9}{s.get('max_ms', '-'):>9}")
        print(f"  CPU % of one core: {p['cpu_percent']}")
        if p["supervisors"]:
            print(f"  {p['supervisor_deliveries']}/{p['supervisor_deliveries_expected']} change deliveries to "
                  f"{p['supervisors']} supervisor sockets in {p['supervisor_frames']} frames "
                  f"({p['supervisor_bytes'] / 1e6:.1f} MB); {p['cards']}/{p['calls']} cards")
    base = [p["screen_pop"].get("p99_ms", 0.0) for p in result["phases"] if not p["supervisors"]]
    watched = [p["screen_pop"].get("p99_ms", 0.0) for p in result["phases"] if p["supervisors"]]
    deltas = [p["change_to_supervisor"].get("p99_ms", 0.0) for p in result["phases"] if p["supervisors"]]
    if base and watched:
        b, w = statistics.median(base), statistics.median(watched)
        print(f"median over {len(base)} round(s): screen-pop p99 base {b} ms, watched {w} ms "
              f"({(w - b) / b * 100:+.1f} %); change -> supervisor p99 {statistics.median(deltas)} ms")
        # One round's p99 is its 18th-slowest card of ~1,800 and moves 2-4x between rounds of the same kind;
        # the p99 of all rounds' cards together is the steadier figure.
        pooled = {kind: summary([x for p in result["phases"] if bool(p["supervisors"]) == (kind == "watched")
                                 for x in p["screen_pop_raw"]]) for kind in ("base", "watched")}
        pb, pw = pooled["base"]["p99_ms"], pooled["watched"]["p99_ms"]
        print(f"all rounds' cards together: base p50/p99 {pooled['base']['p50_ms']}/{pb} ms "
              f"(n={pooled['base']['n']}), watched {pooled['watched']['p50_ms']}/{pw} ms "
              f"(n={pooled['watched']['n']}): p99 {(pw - pb) / pb * 100:+.1f} %")
        result["pooled_screen_pop"] = pooled
    for p in result["phases"]:
        p.pop("screen_pop_raw", None)
    print(json.dumps(result))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=60)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--supervisors", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=15, help="seconds of calls first, not reported")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--watch-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch_child:
        given = json.loads(args.watch_child.with_suffix(".in").read_text())
        await watch(given["urls"], given["tokens"], args.watch_child)
        return
    async with scratch_services("bench") as services:
        result = await run(services, args)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
