"""Login storm vs. everything else: do argon2 hashes stall other requests?

Starts one real `web` process (embedded or *_URL services), seeds N operators, then fires C concurrent
logins for D seconds while a second client issues authenticated GET /api/arm/v1/me once every 10 ms.
Reports login latency and throughput, and the latency of the other requests during the storm and at
rest. Usage: .venv/bin/python -m bench.login_storm [--operators 50] [--concurrency 16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.auth.passwords import hash_sync
from bench.common import scratch_services, summary
from tests.harness import Services, WebProcess, unique


async def probe(client: httpx.AsyncClient, url: str, token: str, stop: asyncio.Event) -> list[float]:
    out: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        r = await client.get(url + "/api/arm/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        out.append(time.perf_counter() - t)
        await asyncio.sleep(0.01)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    async with scratch_services("bench") as services:
        await run(services, args)


async def run(services: Services, args: argparse.Namespace) -> None:
    web = None
    try:
        from backend.core.migrate import migrate

        conn = await asyncpg.connect(services.database_url)
        await migrate(conn)
        password = "bench-password"
        password_hash = hash_sync(password)
        logins = [unique("b_") for _ in range(args.operators)]
        await conn.executemany(
            "INSERT INTO operators (login, password_hash, first_name, last_name) VALUES ($1, $2, 'B', 'B')",
            [(login, password_hash) for login in logins])
        await conn.close()
        web = WebProcess(services.web_env(LOG_LEVEL="WARNING"), "bench")
        await asyncio.to_thread(web.wait_ready)
        limits = httpx.Limits(max_connections=args.concurrency + 4)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            r = await client.post(web.url + "/api/arm/v1/login", json={"login": logins[0], "password": password})
            token = r.json()["data"]["token"]

            stop = asyncio.Event()
            rest_task = asyncio.create_task(probe(client, web.url, token, stop))
            await asyncio.sleep(2)
            stop.set()
            at_rest = await rest_task

            login_times: list[float] = []
            deadline = time.perf_counter() + args.seconds

            async def storm(i: int) -> None:
                n = i
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    resp = await client.post(web.url + "/api/arm/v1/login",
                                             json={"login": logins[n % len(logins)], "password": password})
                    assert resp.status_code == 200, resp.text
                    login_times.append(time.perf_counter() - t)
                    n += args.concurrency

            stop = asyncio.Event()
            probe_task = asyncio.create_task(probe(client, web.url, token, stop))
            started = time.perf_counter()
            await asyncio.gather(*(storm(i) for i in range(args.concurrency)))
            elapsed = time.perf_counter() - started
            stop.set()
            during = await probe_task
        report = {
            "cpus": os.cpu_count(),
            "concurrency": args.concurrency,
            "logins_per_s": round(len(login_times) / elapsed, 1),
            "login": summary(login_times),
            "me_at_rest": summary(at_rest),
            "me_during_storm": summary(during),
        }
        print(f"{'':22}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for key in ("login", "me_at_rest", "me_during_storm"):
            s = report[key]
            assert isinstance(s, dict)
            print(f"{key:22}{s['n']:>6}{s['p50_ms']:>9}{s['p95_ms']:>9}{s['p99_ms']:>9}{s['max_ms']:>9}")
        print(f"logins/s: {report['logins_per_s']}")
        print(json.dumps(report))
    finally:
        if web:
            web.stop()


if __name__ == "__main__":
    asyncio.run(main())
