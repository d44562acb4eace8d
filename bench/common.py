"""What the bench scripts share: a scratch database on the env's or embedded services, and percentiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from backend.dev.embedded import services_from_env
from tests.harness import Services, unique, with_database


@asynccontextmanager
async def scratch_services(label: str) -> AsyncIterator[Services]:
    """DATABASE_URL/REDIS_URL (or embedded servers under .data/<label>-*), a fresh database and Redis prefix;
    all removed afterwards."""
    admin_url, redis_url, stops = services_from_env(label, "postgres")
    name = unique("tm_bench_")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Services(with_database(admin_url, name), admin_url, redis_url, unique("tmbench:") + ":")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        for stop in stops:
            stop()


def summary(values: list[float]) -> dict[str, float]:
    """n, p50/p95/p99/max in milliseconds of durations in seconds."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 2)

    return {"n": len(values), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "max_ms": round(ordered[-1] * 1000, 2)}
