"""Integration clients' throughput: leads/s through all four services (BlackList, ML ×4 models, products,
client data: seven calls per lead) against the simulator at 20 ms latency per request.

The lead batches go through the seven checks one after another, as the cascade does (a filter sees a batch
after the previous filter); ``--in-flight`` batches run at once (the cascade can keep several batches moving).
Cases:

* ``batch``    — INTEGRATION_BATCH_SIZE=200 (the services' batch endpoints; BlackList's search takes any
                 number of ``$or`` clauses), batches of 1,000 leads;
* ``per-lead`` — INTEGRATION_BATCH_SIZE=0: one HTTP request per lead per check, INTEGRATION_CONCURRENCY
                 keep-alive connections per service (what a service without a batch endpoint costs).

CPU is per process from /proc (the bench client, i.e. the integrations code, and the simulator), as a share
of one core over the case. Every check must PASS (the verdicts are all-pass), or the case fails.

    .venv/bin/python -m bench.integrations [--leads 20000 --per-lead-leads 3000 --latency-ms 20
        --in-flight 1,4 --concurrency 64 --json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.settings import Settings
from backend.integrations.api import ML_MODELS, Check, IntegrationLead, Integrations
from integrations_sim.testing import running_simulator

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def make_leads(n: int) -> list[IntegrationLead]:
    return [IntegrationLead(10_000_000 + i, f"79{i:09d}", "repeater" if i % 3 else "pioneer",
                            face_id=f"face-{i}", device_id=f"dev-{i:08x}", passport_series="4510",
                            passport_number=f"{i:06d}", product_type="express", requested_amount=2_500_000)
            for i in range(n)]


async def through_all(integrations: Integrations, batch: list[IntegrationLead]) -> int:
    checks: list[list[Check]] = [await integrations.phone_black_list(batch)]
    for model in ML_MODELS:
        checks.append(await integrations.ml(model, batch))
    checks.append(await integrations.available_products(batch, ["express", "consumer"]))
    checks.append(await integrations.client_data(batch))
    bad = [c for part in checks for c in part if c.outcome != "PASS"]
    if bad:
        raise SystemExit(f"unexpected checks: {bad[:3]} ({len(bad)} in all)")
    return len(batch)


async def run_case(url: str, sim_pid: int, leads: list[IntegrationLead], batch_size: int, chunk: int,
                   in_flight: int, concurrency: int) -> dict[str, Any]:
    settings = Settings(integrations_url=url, integration_batch_size=batch_size,
                        integration_concurrency=concurrency, integration_timeout_seconds=10)
    integrations = await Integrations.start(settings)
    try:
        await through_all(integrations, leads[:chunk])  # warm-up: connections open
        batches = [leads[i:i + chunk] for i in range(0, len(leads), chunk)]
        queue: asyncio.Queue[list[IntegrationLead]] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)

        async def worker() -> None:
            while not queue.empty():
                await through_all(integrations, queue.get_nowait())

        cpu_client, cpu_sim = time.process_time(), cpu_seconds(sim_pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds = time.perf_counter() - started
        cpu_client, cpu_sim = time.process_time() - cpu_client, cpu_seconds(sim_pid) - cpu_sim
        health = integrations.health()
    finally:
        await integrations.close()
    return {"leads": len(leads), "batchSize": batch_size, "chunk": chunk, "inFlight": in_flight,
            "seconds": round(seconds, 2), "leadsPerSecond": round(len(leads) / seconds),
            "requests": sum(s["requests"] for k, s in health.items() if k != "configured"),
            "clientCpu": round(cpu_client / seconds, 2), "simCpu": round(cpu_sim / seconds, 2),
            "clientCpuUsPerLead": round(cpu_client / len(leads) * 1e6, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--per-lead-leads", type=int, default=3_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--in-flight", default="1,4")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = []
    with running_simulator() as sim:
        sim.faults("all", latency_ms=args.latency_ms)
        for in_flight in [int(x) for x in args.in_flight.split(",")]:
            for case, n, batch_size, chunk in (("batch", args.leads, 200, 1000),
                                               ("per-lead", args.per_lead_leads, 0, 1000)):
                result = await run_case(
                    sim.url, sim.proc.pid, make_leads(n), batch_size, chunk, in_flight, args.concurrency)
                result["case"] = case
                results.append(result)
                print(json.dumps(result), flush=True)
    load = os.getloadavg()[0]
    print(f"\nlatency {args.latency_ms} ms per request, concurrency {args.concurrency} per service, "
          f"load average {load:.2f}\n")
    print("| case | batches in flight | leads | requests | seconds | leads/s | client CPU | simulator CPU "
          "| client CPU µs/lead |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['inFlight']} | {r['leads']:,} | {r['requests']:,} | {r['seconds']} | "
              f"{r['leadsPerSecond']:,} | {r['clientCpu']:.0%} | {r['simCpu']:.0%} | {r['clientCpuUsPerLead']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
