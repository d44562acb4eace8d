"""The filter cascade's throughput: leads/s from a done import's snapshots to recorded paths and campaign tasks.

Cases (a fresh import each; everything a worker does is measured: read the snapshots, decide, COPY the paths,
enter the passing leads as tasks in bulk, count, advance the run's cursor — one transaction per batch):

* ``decide-internal`` — the eight internal filters alone over in-memory batches (no database), for reference;
* ``internal``        — the eight internal filters (REQUEST_STATUS, RESIDENCE, AGE, PHONE_TEMPLATE, GRACE,
                        CLIENT_TYPE, DO_NOT_CALL, BOOKED), end to end; target ≥ 20,000 leads/s;
* ``integrations``    — the internal filters and all seven integration filters (PHONE_BLACK_LIST, ML_DEVICE,
                        ML_PHONE, ML_FACE, ML_DOCUMENT, AVAILABLE_PRODUCTS, CLIENT_DATA) against the services'
                        simulator at ``--latency-ms`` per request; target ≥ 2,000 leads/s.

Besides leads/s (wall clock, which on a shared machine says as much about the neighbours as about the code),
each case reports the CPU seconds the worker and PostgreSQL's backends for the bench database spent
(PostgreSQL's from /proc, so when it runs on this machine): leads per CPU-second of the two together is the
load-independent figure (a box with two free cores would run about that fast when neither waits).

About 80 % of the generated leads pass (the rest fail AGE, RESIDENCE or PHONE_TEMPLATE, or are on the
do-not-call list), so the task writes are measured too.

    .venv/bin/python -m bench.cascade [--leads 200000 --integration-leads 40000 --latency-ms 20 --json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import msgspec

from backend.campaigns.service import CampaignEntry
from backend.core.db import create_pool, create_redis
from backend.core.migrate import migrate
from backend.core.settings import Settings
from backend.integrations.api import Integrations
from backend.rules import queries, service
from backend.rules.cascade import Cascade
from backend.rules.config import RulesConfig
from bench.common import scratch_services
from integrations_sim.testing import running_simulator

INTERNAL = ["REQUEST_STATUS", "RESIDENCE", "AGE", "PHONE_TEMPLATE", "GRACE", "CLIENT_TYPE", "DO_NOT_CALL", "BOOKED"]
INTEGRATION = ["PHONE_BLACK_LIST", "ML_DEVICE", "ML_PHONE", "ML_FACE", "ML_DOCUMENT", "AVAILABLE_PRODUCTS",
               "CLIENT_DATA"]
COLUMNS = ("import_id", "line_no", "stream", "application_no", "created_at", "changed_at", "application_status",
           "client_type", "phone", "citizenship", "birth_date", "grace", "grace_unit", "first_name", "last_name",
           "product_type", "requested_amount", "face_id", "device_id", "passport_series", "passport_number")


def rules(stream: str, order: list[str]) -> RulesConfig:
    return msgspec.convert({
        "data-streams": [stream], "filters-order": order, "request-statuses": ["registered", "scored"],
        "citizenship-unavailable-countries": ["BLR", "UKR"], "min-age": 18, "max-age": 75,
        "phone-templates": [r"7\d{5}4\d{4}", r"7\d{5}3\d{4}"], "grace-min-days": 0, "grace-max-days": 90,
        "client-types": ["pioneer", "repeater"], "available-products": ["express", "consumer"],
        "calling-hours": {"from": "00:00", "to": "23:59"}}, RulesConfig)


def lead_rows(import_id: int, stream: str, n: int, start: int) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC) - timedelta(minutes=1)
    out = []
    for i in range(n):
        app = start + i
        seventh = "4" if i % 10 else "1"  # 10 %: no phone template
        phone = f"7{app % 100000:05d}{seventh}{app // 100000 % 10000:04d}"
        born = date(1960 + i % 45, 1 + i % 12, 1 + i % 28)  # ages 21..66, with 5 % under 18 below
        if i % 20 == 7:
            born = date.today().replace(year=date.today().year - 16)
        out.append((import_id, i + 2, stream, app, now, now, "registered" if i % 2 else "scored",
                    "pioneer" if i % 3 else "repeater", phone, "UKR" if i % 25 == 3 else "RUS", born, 14, "day",
                    "Иван", "Петров", "express", 2_500_000, f"face-{app}", f"dev-{app:x}", "4510", f"{i:06d}"))
    return out


async def make_import(pool: asyncpg.Pool, stream: str, n: int, start: int) -> int:
    import_id = await pool.fetchval(
        """INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash, size_bytes,
                                     state, started_at, finished_at, moved_at)
           VALUES ($1, 'cli', 'bench.csv', '/tmp/bench.csv', 'csv', $2, 1, 'done', now(), now(), now())
           RETURNING id""", stream, hashlib.sha256(f"{stream}{start}".encode()).hexdigest())
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("lead_snapshots", records=lead_rows(import_id, stream, n, start),
                                         columns=COLUMNS)
        await conn.execute("ANALYZE lead_snapshots")
    return int(import_id)


async def backend_cpu(pool: asyncpg.Pool) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving this database (from /proc: the server must be on
    this machine; empty otherwise). The work PostgreSQL did for a case, whatever else loads the machine."""
    pids = [r["pid"] for r in await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def stream_of(case: str) -> str:
    return f"BENCH_{case.upper().replace('-', '_')}"


async def run_case(settings: Settings, case: str, n: int, start: int, sim_url: str | None) -> dict[str, Any]:
    pool = await create_pool(settings)
    redis = create_redis(settings)
    integrations = await Integrations.start(settings) if sim_url else None
    try:
        stream = stream_of(case)
        order = INTERNAL + INTEGRATION if sim_url else INTERNAL
        campaign = await pool.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", f"bench {case}")
        await service.save_config(pool, campaign, rules(stream, order), None)
        # a do-not-call list of 100,000 phones, 1 % of the leads among them
        await pool.execute(
            """INSERT INTO do_not_call (phone, reason, source)
               SELECT '79' || lpad(g::text, 9, '0'), 'bench', 'BENCH' FROM generate_series(1, 100000) g
               ON CONFLICT DO NOTHING""")
        import_id = await make_import(pool, stream, n, start)
        for phone in [r[8] for r in lead_rows(import_id, stream, n, start)[::100]]:
            await queries.put_dnc(pool, phone, None, "bench", "BENCH", None)
        cascade = Cascade(pool, settings, CampaignEntry(redis, settings), integrations)
        db_before = await backend_cpu(pool)
        if case == "decide-internal":
            rows = await queries.snapshot_batch(pool, import_id, 0, n)
            config = rules(stream, INTERNAL)
            started, cpu = time.perf_counter(), time.process_time()
            for offset in range(0, n, settings.cascade_batch_size):
                await cascade.decide(rows[offset:offset + settings.cascade_batch_size], config, campaign)
            seconds = time.perf_counter() - started
            passed = None
        else:
            started, cpu = time.perf_counter(), time.process_time()
            decided = await cascade.tick()
            seconds = time.perf_counter() - started
            assert decided == n, (decided, n)
            passed = await pool.fetchval("SELECT passed FROM cascade_runs WHERE import_id = $1", import_id)
        cpu = time.process_time() - cpu
        db_after = await backend_cpu(pool)
        db_cpu = sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items()) if db_after else None
        return {"case": case, "leads": n, "passed": passed, "seconds": round(seconds, 2),
                "leads_per_s": round(n / seconds), "worker_cpu_s": round(cpu, 2),
                "leads_per_worker_cpu_s": round(n / cpu),
                "db_cpu_s": None if db_cpu is None else round(db_cpu, 2),
                "leads_per_cpu_s": None if db_cpu is None else round(n / (cpu + db_cpu))}
    finally:
        if integrations is not None:
            await integrations.close()
        await redis.aclose()
        await pool.close()


async def main(args: argparse.Namespace) -> None:
    results = []
    load_before = os.getloadavg()
    async with scratch_services("bench") as services:
        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        await conn.close()
        base = {"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url,
                "REDIS_KEY_PREFIX": services.redis_prefix, "CASCADE_BATCH_SIZE": str(args.batch)}
        for index, case in enumerate(["decide-internal", "internal"]):
            settings = Settings.from_env({**base, "CASCADE_STREAMS": stream_of(case)})
            results.append(await run_case(settings, case, args.leads, 10_000_000 * (index + 1), None))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        with running_simulator() as sim:
            sim.faults("all", latency_ms=args.latency_ms)
            settings = Settings.from_env({**base, "INTEGRATIONS_URL": sim.url,
                                          "CASCADE_STREAMS": stream_of("integrations")})
            results.append(await run_case(settings, "integrations", args.integration_leads, 90_000_000, sim.url))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(f"| case | leads | passed | seconds | leads/s | worker CPU s | PostgreSQL CPU s | leads per CPU s "
          f"(worker + PostgreSQL) |  (batch {args.batch}, simulator latency {args.latency_ms} ms)")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['leads']:,} | {r['passed'] if r['passed'] is not None else '-'} "
              f"| {r['seconds']} | {r['leads_per_s']:,} | {r['worker_cpu_s']} | {r['db_cpu_s'] or '-'} "
              f"| {r['leads_per_cpu_s'] or '-'} |")
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "load_before": load_before,
                                               "load_after": load_after}, indent=2))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--integration-leads", type=int, default=40_000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--json")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
