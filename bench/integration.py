"""The integration exchange under load: how many communication requests per second are accepted, and how fast.

Starts --webs real `web` processes (embedded or *_URL services, a scratch database), an integration client
with an API key mapped to a campaign with rules (calling hours all day), then sends seed-004 requests at a
fixed --rate for --seconds, round-robin over the web processes, each a new requestID (so each makes a task)
and a share --repeat of them a repeat of an earlier one (answered from the stored response). Latency is
measured from each request's scheduled send time (open loop: a slow server shows as latency, not as fewer
requests sent). Prints a table (--json: one JSON object) with the load average of the machine.

Usage: .venv/bin/python -m bench.integration [--rate 500] [--seconds 10] [--webs 2] [--repeat 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.migrate import migrate
from backend.exchange.keys import new_key
from bench.common import RawHttp, scratch_services, slowest_seconds, summary
from tests.harness import Services, WebProcess, unique

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def backend_pids(services: Services) -> list[int]:
    """The PostgreSQL backends serving the scratch database (same host: their CPU is readable)."""
    conn = await asyncpg.connect(services.database_url)
    try:
        return [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    finally:
        await conn.close()


RULES = {"data-streams": ["BENCH"], "time-zone": "UTC", "calling-hours": {"from": "00:00", "to": "23:59"}}


async def seed(services: Services) -> tuple[str, int]:
    conn = await asyncpg.connect(services.database_url)
    try:
        await migrate(conn)
        campaign = await conn.fetchval("INSERT INTO campaigns (name) VALUES ('bench exchange') RETURNING id")
        await conn.execute(
            """INSERT INTO campaign_rule_versions (campaign_id, version, config, data_streams)
               VALUES ($1, 1, $2::jsonb, ARRAY['BENCH'])""", campaign, json.dumps(RULES))
        client = await conn.fetchval(
            "INSERT INTO exchange_clients (name, campaign_id, signing_secret) VALUES ('bench', $1, $2) RETURNING id",
            campaign, "s" * 43)
        key_id, api_key, secret_hash = new_key()
        await conn.execute("INSERT INTO exchange_keys (id, client_id, secret_hash) VALUES ($1, $2, $3)",
                           key_id, client, secret_hash)
        return api_key, int(campaign)
    finally:
        await conn.close()


def body(n: int) -> bytes:
    return json.dumps({
        "requestID": str(uuid.uuid4()), "dt": "2023-07-27T09:27:04.953+03:00",
        "clientIdList": [{"systemCode": "vtb_mdm_id", "id": str(n)}, {"systemCode": "INFOR", "id": f"A{n}"}],
        "inn": "1200009193", "ogrn": "1231200000844", "kpp": "120001001", "okpo": "02847208",
        "phone": f"79{n % 10**9:09d}", "clientInfo": {"lastName": "Иванова", "firstName": "Анна"}}).encode()


async def run(services: Services, args: argparse.Namespace) -> dict[str, Any]:
    api_key, campaign = await seed(services)
    env = services.web_env(LOG_LEVEL="WARNING", DB_POOL_MAX_SIZE="10", DB_POOL_MIN_SIZE="4")
    webs = [WebProcess(env, unique("bench-exchange-")) for _ in range(args.webs)]
    try:
        for web in webs:
            await asyncio.to_thread(web.wait_ready)
        latencies: list[float] = []
        timeline: list[tuple[float, float]] = []  # (sent at, seconds from start; latency)
        statuses: dict[str, int] = {}
        sent: list[bytes] = []
        rng = random.Random(7)
        total = int(args.rate * args.seconds)
        # A pool of minimal keep-alive connections per web process (bench.common.RawHttp): aiohttp's client took
        # 0.3-0.5 of a core at 500 requests/s on this 2-core box, CPU the servers measured did not get.
        path = "/api/integration/v1/communication-requests"
        extra = {"x-api-key": api_key}
        pools: list[asyncio.Queue[RawHttp]] = []
        for web in webs:
            pool: asyncio.Queue[RawHttp] = asyncio.Queue()
            for _ in range(max(1, args.connections // len(webs))):
                pool.put_nowait(RawHttp(web.url, extra))
            pools.append(pool)
        try:
            bodies = [body(i) for i in range(total)]  # made before the clock starts: the client's work is not timed
            warm = int(args.rate * args.warmup)
            warm_bodies = [body(10**8 + i) for i in range(warm)]
            start = 0.0
            record = False

            async def one(i: int, scheduled: float) -> None:
                if record:
                    payload = sent[rng.randrange(len(sent))] if sent and rng.random() < args.repeat else bodies[i]
                    sent.append(payload)
                else:
                    payload = warm_bodies[i]
                pool = pools[i % len(webs)]
                client = await pool.get()
                try:
                    status, answer = await client.request("POST", path, "", payload)
                    key = f"{status}/{json.loads(answer).get('statusCode', '-')}" if status == 200 else str(status)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    client.close()  # reconnects on its next request
                    key = type(exc).__name__
                finally:
                    pool.put_nowait(client)
                if record:
                    latencies.append(time.perf_counter() - scheduled)
                    timeline.append((scheduled - start, latencies[-1]))
                    statuses[key] = statuses.get(key, 0) + 1

            async def drive(n: int) -> None:
                """Open loop: request i is due at start + i / rate, sent then whatever came back before."""
                tasks = []
                for i in range(n):
                    scheduled = start + i / args.rate
                    delay = scheduled - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(one(i, scheduled)))
                await asyncio.gather(*tasks)

            # Warm-up at the same rate, not measured: every connection opened, the servers' PostgreSQL pools
            # grown to what the rate needs and their statements prepared (a cold start put the whole slowest
            # 1 % into the run's first second), as on a server that has been running.
            start = time.perf_counter()
            await drive(warm)
            await asyncio.sleep(1)

            web_cpu0 = sum(cpu_seconds(w.proc.pid) for w in webs)
            pg_cpu0 = {pid: cpu_seconds(pid) for pid in await backend_pids(services)}
            own_cpu0 = time.process_time()
            record = True
            start = time.perf_counter()
            await drive(total)
            elapsed = time.perf_counter() - start
            own_cpu = time.process_time() - own_cpu0
            web_cpu = sum(cpu_seconds(w.proc.pid) for w in webs) - web_cpu0
            pg_cpu = sum(cpu_seconds(pid) - pg_cpu0.get(pid, 0.0) for pid in await backend_pids(services))
        finally:
            for pool in pools:
                while not pool.empty():
                    pool.get_nowait().close()
        conn = await asyncpg.connect(services.database_url)
        try:
            tasks_made = await conn.fetchval("SELECT count(*) FROM campaign_tasks WHERE campaign_id = $1", campaign)
        finally:
            await conn.close()
        accepted = statuses.get("200/0", 0)
        return {"rate_offered": args.rate, "seconds": args.seconds, "webs": args.webs, "requests": total,
                "accepted_per_s": round(accepted / elapsed, 1), "statuses": statuses,
                "tasks_created": tasks_made - warm, **summary(latencies),
                "web_cpu_ms_per_req": round(web_cpu * 1000 / total, 2),
                "pg_cpu_ms_per_req": round(pg_cpu * 1000 / total, 2),
                "client_cpu_ms_per_req": round(own_cpu * 1000 / total, 2),
                # What two idle cores could serve if web and PostgreSQL CPU were all the cost (no client).
                "idle_2core_estimate_per_s": round(2 / ((web_cpu + pg_cpu) / total)) if web_cpu + pg_cpu else None,
                "loadavg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
                # Where the tail is: the seconds of the run (by send time) holding the slowest 1 % of requests.
                "slowest_1pct_by_second": slowest_seconds(timeline)}
    finally:
        for web in webs:
            web.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--repeat", type=float, default=0.1, help="share of requests that repeat an earlier one")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=3, help="seconds at the rate before measuring")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    async with scratch_services("bench") as services:
        result = await run(services, args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'metric':<18} value")
    for key, value in result.items():
        print(f"{key:<18} {value}")


if __name__ == "__main__":
    uvloop.run(main())  # the client must not be what limits the bench
