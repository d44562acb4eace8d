"""What the bench scripts share: a scratch database on the env's or embedded services, and percentiles."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from backend.dev.embedded import services_from_env
from tests.harness import Services, WebProcess, free_port, unique, with_database


@asynccontextmanager
async def scratch_services(label: str, keep: str | None = None) -> AsyncIterator[Services]:
    """DATABASE_URL/REDIS_URL (or embedded servers under .data/<label>-*), a fresh database and Redis prefix;
    all removed afterwards. ``keep``: the database of that name instead, created if missing and kept (a bench
    whose data takes long to generate reuses it)."""
    admin_url, redis_url, stops = services_from_env(label, "postgres")
    name = keep or unique(os.environ.get("BENCH_DATABASE_PREFIX", "tm_bench_"))  # a shared machine tells runs apart
    admin = await asyncpg.connect(admin_url)
    if not keep or not await admin.fetchval("SELECT true FROM pg_database WHERE datname = $1", keep):
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Services(with_database(admin_url, name), admin_url, redis_url, unique("tmbench:") + ":")
    finally:
        if not keep:
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


# -- the Procfile's stack, a quiet machine, the median of several runs (issue 16) ---------------------------


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def wait_quiet(max_load: float, timeout: float) -> dict[str, float]:
    """Wait until the 1-minute load average is at most ``max_load`` (the machine is shared), at most
    ``timeout`` seconds; then proceed either way and say what the load was."""
    started = time.monotonic()
    while load_average() > max_load and time.monotonic() - started < timeout:
        time.sleep(2)
    return {"load_before": load_average(), "waited_s": round(time.monotonic() - started, 1),
            "quiet": float(load_average() <= max_load)}


class Stack:
    """The Procfile's processes as production runs them: 2 ``web``, 1 ``worker``, 1 ``telephony`` (with the
    provider simulator, autodial off, as its provider), on the scratch database and Redis prefix."""

    def __init__(self, services: Services, label: str, webs: int = 2, telephony: bool = True,
                 **extra_env: str) -> None:
        self.sim_port, self.tel_port = free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        env: dict[str, str] = {"LOG_LEVEL": "WARNING", "DB_POOL_MAX_SIZE": "20", "PROVIDER_URL": self.sim_url,
                               "SIM_PORT": str(self.sim_port), "SIM_AUTODIAL": "0",
                               "TELEPHONY_PORT": str(self.tel_port)}
        env.update(extra_env)
        self.env = services.web_env(**env)
        self.label, self.webs, self.telephony = label, webs, telephony
        self.procs: dict[str, WebProcess] = {}
        self.web_module = "backend.web"
        self.ready_timeout = 30.0

    def start(self) -> list[str]:
        """Start everything; return the web processes' URLs once they answer."""
        if self.telephony:
            self.procs["simulator"] = WebProcess(self.env, f"{self.label}-sim", module="telephony.simulator")
        for i in range(self.webs):
            self.procs[f"web{i}"] = WebProcess(self.env, f"{self.label}-{i}", module=self.web_module)
        self.procs["worker"] = WebProcess(self.env, self.label, module="backend.worker")
        if self.telephony:
            self.procs["telephony"] = WebProcess(self.env, self.label, module="telephony")
        for i in range(self.webs):
            self.procs[f"web{i}"].wait_ready(timeout=self.ready_timeout)
        return [self.procs[f"web{i}"].url for i in range(self.webs)]

    def pids(self, prefix: str) -> list[int]:
        return [p.proc.pid for key, p in self.procs.items() if key.startswith(prefix)]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of several runs' rows (dicts keyed alike), per key the median of the numbers."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        out[key] = statistics.median(nums) if len(nums) == len(values) else values[0]
    return out


COLUMNS = ("rate", "sent", "received", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def print_table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> None:
    print(title)
    print("".join(f"{c:>11}" for c in columns))
    for row in rows:
        print("".join(f"{row.get(c, '-')!s:>11}" for c in columns))


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client (GET and JSON POST): httpx costs more CPU per request than the
    server under test, so at thousands of requests/s it would measure itself."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self._host, port = base.removeprefix("http://").split(":")
        self._extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._port = int(port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, token: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{auth}{self._extra}"
                + (f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body or method == "POST"
                   else "") + "\r\n")
        self._writer.write(head.encode() + body)
        answer = await self._reader.readuntil(b"\r\n\r\n")
        status = int(answer.split(b" ", 2)[1])
        length = 0
        for line in answer.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self._reader.readexactly(length)

    async def get(self, path: str, token: str) -> tuple[int, bytes]:
        return await self.request("GET", path, token)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def slowest_seconds(timeline: list[tuple[float, float]]) -> dict[int, int]:
    """How many of the slowest 1 % of requests were sent in each second of the run: a few seconds holding
    them all is a stall (GC, a lock, a periodic job), an even spread is queueing."""
    if not timeline:
        return {}
    cut = sorted(lat for _, lat in timeline)[int(len(timeline) * 0.99)]
    out: dict[int, int] = {}
    for at, lat in timeline:
        if lat >= cut:
            out[int(at)] = out.get(int(at), 0) + 1
    return dict(sorted(out.items()))
