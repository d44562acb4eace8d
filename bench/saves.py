"""Saves of drafts: POST /api/arm/v1/saveCommunicationDraft from distinct operators against 2 web processes.

Starts the Procfile's stack (2 `web`, `worker`, `telephony` with the provider simulator; real PostgreSQL and
Redis, a scratch database), seeds N operators with a live session and one open communication each, then for
each target rate in the ladder sends saves at that rate for S seconds (open loop: a save is sent on time
whether or not the earlier ones were answered; each operator saves its own draft, over its own keep-alive
connection, half of the operators on each web process) and measures each save's latency. A run is one fresh
stack; the table is the median of --runs runs. Waits (at most --quiet-timeout s) for the load average to be at
most --quiet-load before each run and records it.

Usage: .venv/bin/python -m bench.saves [--operators 1000] [--rates 500,1000,2000] [--seconds 10] [--runs 3]
                                       [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.auth import tokens
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
    summary,
    wait_quiet,
)
from tests.harness import Services


async def seed(services: Services, n_ops: int) -> list[tuple[str, int, str]]:
    """(token, communication id, phone) per operator: a live session and a communication in its window."""
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
    campaign = await conn.fetchval(
        "INSERT INTO campaigns (name, description) VALUES ('Бенчмарк', 'Скрипт') RETURNING id")
    phones = [f"79{i:09d}" for i in range(n_ops)]
    task_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO campaign_tasks (campaign_id, phone, client_info, task_state)
           SELECT $1, p, '{}'::jsonb, 'IN_PROGRESS' FROM unnest($2::text[]) p RETURNING id""", campaign, phones)]
    comm_ids = [r["id"] for r in await conn.fetch(
        """INSERT INTO communications (campaign_task_id, operator_id, call_id, call_started_at, call_ended_at,
                                       result_deadline)
           SELECT t, o, 'bench-' || t, now(), now(), now() + interval '1 day'
             FROM unnest($1::bigint[], $2::bigint[]) AS u(t, o) RETURNING id""", task_ids, op_ids)]
    await conn.close()
    toks = [tokens.issue(settings, operator_id=op, session_id=sid, role="operator", issued_at=now,
                         expires_at=now + timedelta(hours=2)) for sid, op in sessions]
    return list(zip(toks, comm_ids, phones, strict=True))


async def ladder(urls: list[str], ops: list[tuple[str, int, str]], rates: list[int], seconds: float,
                 pids: list[int]) -> list[dict[str, Any]]:
    clients = [RawHttp(urls[i % len(urls)]) for i in range(len(ops))]
    busy = [False] * len(ops)
    rows = []
    # Warm-up: every operator's connection opened and one save each (not measured).
    for start in range(0, len(ops), 100):
        await asyncio.gather(*(save(clients[i], ops[i], i) for i in range(start, min(start + 100, len(ops)))))
    for rate in rates:
        latencies: list[float] = []
        errors = 0
        sent = 0
        pending: set[asyncio.Task[None]] = set()
        load = load_average()

        async def one(i: int, latencies: list[float]) -> None:
            nonlocal errors
            busy[i] = True
            t = time.perf_counter()
            try:
                status = await save(clients[i], ops[i], i)
                if status != 200:
                    errors += 1
                else:
                    latencies.append(time.perf_counter() - t)
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                clients[i].close()
            finally:
                busy[i] = False

        print(f"measuring {rate}/s for {seconds} s", file=sys.stderr, flush=True)
        cpu0 = sum(map(cpu_seconds, pids))
        started = time.perf_counter()
        n = 0
        i = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate) + 1
            while n < due:
                # the next operator with no save in flight (one connection each: no pipelining)
                for _ in range(len(ops)):
                    i = (i + 1) % len(ops)
                    if not busy[i]:
                        break
                else:
                    errors += 1  # every operator has a save in flight: the server is that far behind
                    n += 1
                    continue
                busy[i] = True
                task = asyncio.create_task(one(i, latencies))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
                sent += 1
            await asyncio.sleep(0.001)
        if pending:
            await asyncio.wait(pending, timeout=30)
        wall = time.perf_counter() - started
        cpu = sum(map(cpu_seconds, pids)) - cpu0
        rows.append({"rate": rate, "sent": sent, "received": len(latencies), "errors": errors,
                     **{k: v for k, v in summary(latencies).items() if k != "n"},
                     "achieved_per_s": round(len(latencies) / wall, 1), "web_cpu_pct": round(100 * cpu / wall),
                     "cpu_ms_per_save": round(1000 * cpu / max(1, len(latencies)), 2),
                     "load": load})
    for c in clients:
        c.close()
    return rows


_BODY = '{{"communicationId":{cid},"clientPhone":"{phone}","communicationResult":{{"comment":"bench {n}"}}}}'


async def save(client: RawHttp, op: tuple[str, int, str], n: int) -> int:
    token, cid, phone = op
    body = _BODY.format(cid=cid, phone=phone, n=n).encode()
    status, _ = await client.request("POST", "/api/arm/v1/saveCommunicationDraft", token, body)
    return status


async def one_run(args: argparse.Namespace, rates: list[int]) -> dict[str, Any]:
    quiet = await asyncio.to_thread(wait_quiet, args.quiet_load, args.quiet_timeout)
    async with scratch_services("bench") as services:
        ops = await seed(services, args.operators)
        stack = Stack(services, "saves")
        try:
            urls = await asyncio.to_thread(stack.start)
            rows = await ladder(urls, ops, rates, args.seconds, stack.pids("web"))
        finally:
            stack.stop()
    return {**quiet, "load_after": load_average(), "rows": rows}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quiet-load", type=float, default=2.0)
    parser.add_argument("--quiet-timeout", type=float, default=120)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    runs = []
    for n in range(args.runs):
        run = await one_run(args, rates)
        runs.append(run)
        print_table(f"run {n + 1} (load average {run['load_before']} before, {run['load_after']} after)",
                    run["rows"], (*COLS,))
    median = [median_run([r["rows"][k] for r in runs]) for k in range(len(rates))]
    print_table(f"saveCommunicationDraft, {args.operators} operators, 2 web processes: median of {args.runs} runs",
                median, (*COLS,))
    report = {"cpus": os.cpu_count(), "operators": args.operators, "seconds": args.seconds, "runs": runs,
              "median": median}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


COLS = ("rate", "sent", "received", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms", "achieved_per_s",
        "web_cpu_pct", "cpu_ms_per_save", "load")

if __name__ == "__main__":
    uvloop.run(main())  # the client must not be what limits the bench
