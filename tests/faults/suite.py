"""One fault run: start the stack, seed the floor, run traffic and the fault schedule, drain, check.

``run(Config)`` returns the report (also printed as tables and written as JSON under the run's log folder):
faults by kind, invariants with their violation counts, figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from backend.core.migrate import migrate
from tests.faults import faults as fault_kinds
from tests.faults.bots import Bot
from tests.faults.faults import Fault, Injector, schedule
from tests.faults.invariants import check
from tests.faults.processes import Processes, RedisServer, ScratchPostgres, SentinelRedis, pg_bin
from tests.faults.traffic import ML_REJECT_RATE, Floor
from tests.harness import REPO, TELEPHONY_SECRET, free_port

# Short windows and checks, so that a few minutes hold many calls and every recovery path runs.
SETTINGS = {"POLL_INTERVAL_SECONDS": "0.2", "CAMPAIGN_ENGINE_INTERVAL": "0.5", "RESULT_WINDOW_SECONDS": "5",
            "CALL_CHECK_SECONDS": "3", "MAX_CALL_SECONDS": "30", "STREAM_CLAIM_IDLE_SECONDS": "2",
            "TASK_CHECK_SECONDS": "5", "PROVIDER_TIMEOUT": "2", "SIM_TALK_SECONDS": "1-3", "SIM_AUTODIAL": "1",
            "LEADS_POLL_SECONDS": "0.5", "LEADS_STABLE_SECONDS": "0.5", "LOG_LEVEL": "INFO",
            "LOGIN_MAX_FAILURES_PER_ADDRESS": "10000", "SESSION_IDLE_TIMEOUT": "3600",
            "INTEGRATION_TIMEOUT_SECONDS": "1", "INTEGRATION_ATTEMPTS": "2", "INTEGRATION_BREAKER_RESET_SECONDS": "2",
            "CASCADE_POLL_SECONDS": "0.5", "CASCADE_RETRY_SCALE": "1", "CASCADE_LEASE_SECONDS": "10",
            "SIM_REQUEST_LOG": "1000000",
            "TELEPHONY_WEBHOOK_SECRET": TELEPHONY_SECRET, "PYTHONUNBUFFERED": "1"}


@dataclass
class Config:
    faults: int = 50
    seed: int | None = None
    web: int = 2
    telephony: int = 2
    worker: int = 2
    operators: int = 6
    mean_gap: float = 2.0  # seconds between faults, on average
    clients_per_second: float = 1.5
    files_per_minute: float = 4.0
    drain_seconds: float = 120.0
    redis: str = "sentinel"  # sentinel: primary + replica + 3 Sentinels; plain: one server (AOF, fsync always)
    balancer: bool = True  # nginx in front of the web processes when nginx is installed
    database_url: str = ""  # a server to make the scratch database on when initdb/pg_ctl are not installed
    kinds: dict[str, float] = field(default_factory=lambda: dict(fault_kinds.KINDS))


@dataclass
class Report:
    seed: int
    config: dict[str, Any]
    logs: str
    seconds: float
    faults: dict[str, dict[str, int]]  # kind -> scheduled / injected / skipped / failed
    not_covered: dict[str, str]
    invariants: list[dict[str, Any]]
    figures: dict[str, Any]
    timeline: list[tuple[float, str, str]]

    @property
    def violations(self) -> int:
        return sum(i["violations"] or 0 for i in self.invariants)

    def injected(self) -> int:
        return sum(v["injected"] for v in self.faults.values())

    def tables(self) -> str:
        lines = ["| fault kind | scheduled | injected | skipped | failed to inject |", "|---|---|---|---|---|"]
        for kind, c in self.faults.items():
            lines.append(f"| {kind} | {c['scheduled']} | {c['injected']} | {c['skipped']} | {c['failed']} |")
        total = {k: sum(c[k] for c in self.faults.values()) for k in ("scheduled", "injected", "skipped", "failed")}
        lines.append(f"| **total** | {total['scheduled']} | **{total['injected']}** | {total['skipped']} | "
                     f"{total['failed']} |")
        lines += [f"| {kind} | not covered: {why} | | | |" for kind, why in self.not_covered.items()]
        lines += ["", "| invariant | checked | violations |", "|---|---|---|"]
        for inv in self.invariants:
            v = "n/a" if inv["violations"] is None else inv["violations"]
            extra = f" ({inv['note']})" if inv["note"] else ""
            lines.append(f"| {inv['name']}{extra} | {inv['checked']} | **{v}** |")
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.figures.items()]
        return "\n".join(lines)


def _log(t0: float, timeline: list[tuple[float, str, str]], kind: str, detail: str) -> None:
    timeline.append((round(time.monotonic() - t0, 2), kind, detail))
    print(f"[t+{timeline[-1][0]:7.1f}s] {kind}: {detail}", flush=True)


async def run(config: Config) -> Report:
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"fault suite seed {seed} (reproduce with --seed {seed})", flush=True)
    logs = REPO / "test-artifacts" / "faults" / f"{datetime.now():%Y%m%d-%H%M%S}-seed{seed}"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"logs: {logs}", flush=True)
    not_covered = dict(fault_kinds.NOT_COVERED)
    if not fault_kinds.faketime_available() and config.kinds.pop("clock skew", None) is not None:
        not_covered["clock skew"] = f"libfaketime not installed ({fault_kinds.FAKETIME_LIB}; apt install faketime)"
    plan = schedule(seed, config.faults, config.mean_gap, config.kinds)
    bin_dir = pg_bin()
    pg = ScratchPostgres(logs, bin_dir) if bin_dir else None
    redis: RedisServer | SentinelRedis = SentinelRedis(logs / "redis") if config.redis == "sentinel" \
        else RedisServer(logs / "redis")
    procs = Processes(logs)
    leads_dir = logs / "leads"
    admin_url = database_url = ""
    try:
        if pg is not None:
            await asyncio.to_thread(pg.init)
            database_url = pg.url
        else:  # no initdb here: a scratch database on DATABASE_URL's server, and no PostgreSQL restarts
            admin_url = config.database_url or os.environ["DATABASE_URL"]
            from tests.harness import unique, with_database
            name = unique("tm_faults_")
            conn = await asyncpg.connect(admin_url)
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()
            database_url = with_database(admin_url, name)
            config.kinds.pop("postgresql restart", None)
            not_covered["postgresql restart"] = "no initdb/pg_ctl here: a scratch database on DATABASE_URL"
            plan = schedule(seed, config.faults, config.mean_gap, config.kinds)
        await asyncio.to_thread(redis.start)
        conn = await asyncpg.connect(database_url)
        await migrate(conn)
        await conn.close()
        return await _shift(config, seed, plan, logs, procs, redis, pg, database_url, leads_dir, not_covered)
    finally:
        procs.stop_all()
        redis.stop()
        if pg is not None:
            await asyncio.to_thread(pg.destroy)
        elif admin_url and database_url:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(admin_url)
                await conn.execute(f'DROP DATABASE IF EXISTS "{database_url.rsplit("/", 1)[1]}" WITH (FORCE)')
                await conn.close()
        shutil.rmtree(leads_dir, ignore_errors=True)


async def _shift(config: Config, seed: int, plan: list[Fault], logs: Path, procs: Processes,
                 redis: RedisServer | SentinelRedis,
                 pg: ScratchPostgres | None, database_url: str, leads_dir: Path, not_covered: dict[str, str]) -> Report:
    sim_port, integrations_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "JWT_", "LEADS_"))}
    env = dict(base, **SETTINGS, **redis.env(), DATABASE_URL=database_url,
               REDIS_KEY_PREFIX=f"tmfaults{seed}:", JWT_SECRET=secrets.token_hex(32),
               PROVIDER_URL=f"http://127.0.0.1:{sim_port}", SIM_PORT=str(sim_port), LEADS_DIR=str(leads_dir),
               INTEGRATIONS_URL=f"http://127.0.0.1:{integrations_port}")
    leads_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    timeline: list[tuple[float, str, str]] = []
    procs.note = lambda text: _log(t0, timeline, "runner", text)
    starts = [(f"web-{i}", "backend.web", "/health", {}) for i in range(config.web)]
    starts += [(f"worker-{i}", "backend.worker", None, {}) for i in range(config.worker)]
    starts += [("simulator", "telephony.simulator", "/api/v1/health", {"SIM_PORT": str(sim_port)})]
    starts += [("integrations", "integrations_sim", "/_health", {"INTEGRATIONS_SIM_PORT": str(integrations_port)})]
    starts += [(f"telephony-{i}", "telephony", "/health", {"TELEPHONY_PORT": str(free_port())})
               for i in range(config.telephony)]
    for name, module, ready, extra in starts:
        port = int(extra.get("TELEPHONY_PORT") or extra.get("SIM_PORT") or extra.get("INTEGRATIONS_SIM_PORT") or 0) \
            or None
        await asyncio.to_thread(procs.start, name, module, dict(env, **extra), ready, port)
    nginx = _balancer(logs, [procs.procs[n].port for n in procs.names("web")]) if config.balancer else None
    if nginx is not None:
        await asyncio.to_thread(nginx.wait_ready)
        _log(t0, timeline, "runner", f"nginx on :{nginx.port} in front of {config.web} web processes")
    webs = (lambda: [nginx.url]) if nginx is not None else (lambda: [procs.url(n) for n in procs.names("web")])
    try:
        return await _floor(config, seed, plan, logs, procs, redis, pg, database_url, leads_dir, env, webs, t0,
                            timeline, not_covered)
    finally:
        if nginx is not None:
            nginx.stop()


def _balancer(logs: Path, ports: list[int]) -> Any:
    from tests.integration.scaleout.balancer import Nginx, nginx_binary

    binary = nginx_binary()
    return Nginx(binary, logs / "nginx", ports) if binary else None


async def _floor(config: Config, seed: int, plan: list[Fault], logs: Path, procs: Processes,
                 redis: RedisServer | SentinelRedis, pg: ScratchPostgres | None, database_url: str, leads_dir: Path,
                 env: dict[str, str], webs: Any, t0: float, timeline: list[tuple[float, str, str]],
                 not_covered: dict[str, str]) -> Report:
    sim_url, integrations_url = procs.url("simulator"), procs.url("integrations")
    async with asyncpg.create_pool(database_url, min_size=0, max_size=4) as db, \
            httpx.AsyncClient(timeout=10) as http:
        floor = Floor(http, webs, leads_dir, seed)
        (await http.post(integrations_url + "/_control/verdicts", json={"mlRejectRate": ML_REJECT_RATE})
         ).raise_for_status()
        bots = await floor.seed(db.execute, config.operators, seed * 1000)
        injector = Injector(procs, redis, pg, sim_url, http, bots, float(SETTINGS["PROVIDER_TIMEOUT"]),
                            integrations_url, float(SETTINGS["INTEGRATION_TIMEOUT_SECONDS"]))
        running = [asyncio.create_task(c) for c in (*(b.run(http) for b in bots), procs.supervise())]
        await _warm_up(db, bots)
        t0 = time.monotonic()
        procs.note = lambda text: _log(t0, timeline, "runner", text)
        _log(t0, timeline, "shift", f"every operator at the workstation with a provider session; {len(plan)} "
                                    f"faults over ~{plan[-1].at if plan else 0:.0f} s")
        running.append(asyncio.create_task(floor.run(config.clients_per_second, config.files_per_minute)))
        failed = Counter[str]()
        try:
            for fault in plan:
                await asyncio.sleep(max(0.0, t0 + fault.at - time.monotonic()))
                try:
                    _log(t0, timeline, fault.kind, await asyncio.wait_for(injector.inject(fault), 90))
                except Exception as exc:
                    failed[fault.kind] += 1
                    _log(t0, timeline, fault.kind, f"FAILED to inject: {exc!r}")
            shift_seconds = time.monotonic() - t0
            running[-1].cancel()  # no more clients or files: drain
            await injector.quiesce()
            _log(t0, timeline, "drain", "faults over, every process up; waiting for the floor to go idle")
            drained = await _drain(db, http, sim_url, bots, config.drain_seconds)
            _log(t0, timeline, "drain", drained)
        finally:
            for task in running:
                task.cancel()
            for bot in bots:
                bot.stopping = True
        state = (await http.get(sim_url + "/_state")).raise_for_status().json()
        state["addRequests"] = [r for r in (await http.get(sim_url + "/_requests", params={
            "path": "/api/v1/tasks"}, timeout=60)).raise_for_status().json() if r["method"] == "POST"]
        (logs / "simulator-state.json").write_text(json.dumps(state))
        answered = (await http.get(integrations_url + "/_control/answered")).raise_for_status().json()
        integration_stats = (await http.get(integrations_url + "/_control/stats")).raise_for_status().json()
        (logs / "integrations-answered.json").write_text(json.dumps(answered))
        invariants = await check(db, state, bots, floor.task_ids, floor.files, floor=floor, answered=answered)
        figures = await _figures(db, bots, floor, procs, redis, pg, shift_seconds, drained)
        figures["integration requests (faulted)"] = ", ".join(
            f"{k} {v['requests']} ({v['faulted']})" for k, v in integration_stats.items())
        figures["clocks off at the end"] = ", ".join(f"{k} {v:+d} s" for k, v in sorted(injector.skews.items())
                                                     if v) or "none"
    faults = {kind: {"scheduled": sum(f.kind == kind for f in plan), "injected": injector.injected[kind],
                     "skipped": injector.skipped[kind], "failed": failed[kind]} for kind in config.kinds}
    report = Report(seed, asdict(config), str(logs), round(time.monotonic() - t0, 1), faults,
                    not_covered, [asdict(i) for i in invariants], figures, timeline)
    (logs / "report.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1, default=str))
    print("\n" + report.tables(), flush=True)
    for inv in invariants:
        if inv.violations:
            print(f"VIOLATED: {inv.name}: {inv.examples}", flush=True)
    return report


async def _warm_up(db: asyncpg.Pool, bots: list[Bot], timeout: float = 60) -> None:
    """Faults begin on a running floor: every bot's socket is open and telephony polls every operator."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = await db.fetchval("SELECT count(*) FROM telephony_active_sessions")
        if sessions >= len(bots) and all(b.ws is not None and b.last_seq is not None for b in bots):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the floor did not come up: not every operator has a socket and a provider session")


async def _drain(db: asyncpg.Pool, http: httpx.AsyncClient, sim_url: str, bots: list[Bot], timeout: float) -> str:
    """The provider stops dialling (clients still queued stay queued: nothing the invariants need), then idle:
    no call on, no open window, nobody ON_CALL, no command, import or cascade run pending; the bots' saves are
    done and every bot has been pushed up to its operator's last seq."""
    for _ in range(20):
        with contextlib.suppress(httpx.HTTPError):
            (await http.post(sim_url + "/_config", json={"autoDial": False})).raise_for_status()
            break
        await asyncio.sleep(0.5)
    deadline = time.monotonic() + timeout
    why = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            state = (await http.get(sim_url + "/_state")).raise_for_status().json()
            busy = await db.fetchrow(
                """SELECT (SELECT count(*) FROM communications WHERE state = 'NEW') AS open,
                          (SELECT count(*) FROM operator_states WHERE state = 'ON_CALL') AS on_call,
                          (SELECT count(*) FROM telephony_tasks WHERE task_state = 'NEW') AS commands,
                          (SELECT count(*) FROM lead_imports WHERE state IN ('queued', 'importing')) AS imports,
                          (SELECT count(*) FROM cascade_runs WHERE state = 'pending') AS cascades,
                          (SELECT count(*) FROM lead_imports i WHERE i.state = 'done' AND NOT EXISTS (
                               SELECT 1 FROM cascade_runs r WHERE r.import_id = i.id)) AS undiscovered""")
            calls = sum(c["status"] == "IN_PROGRESS" for c in state["calls"])
            queued = sum(t["status"] == "NEW" for t in state["tasks"])
            saving = sum(len(b.tasks) for b in bots)
            behind = [b.login for b in bots if b.last_seq is not None and b.last_seq < await db.fetchval(
                "SELECT last_seq FROM operator_states WHERE operator_id = $1", b.operator_id)]
            why = (f"{dict(busy)} provider calls on {calls}; bot saves {saving}; bots behind {behind}; "
                   f"clients left queued at the provider {queued}")
            if not any(busy.values()) and not calls and not saving and not behind:
                await asyncio.sleep(2)  # a window that just closed: its events reach the sockets
                stored = [await db.fetchval("SELECT last_seq FROM operator_states WHERE operator_id = $1",
                                            b.operator_id) for b in bots]
                if all(b.last_seq == seq for b, seq in zip(bots, stored, strict=True)):
                    return f"idle after the faults: {why}"
        await asyncio.sleep(1)
    return f"DRAIN TIMED OUT after {timeout:.0f} s: {why}"


async def _figures(db: asyncpg.Pool, bots: list[Bot], floor: Floor, procs: Processes,
                   redis: RedisServer | SentinelRedis,
                   pg: ScratchPostgres | None, shift_seconds: float, drained: str) -> dict[str, Any]:
    row = await db.fetchrow(
        """SELECT count(*) AS communications,
                  count(*) FILTER (WHERE state = 'FIXED' AND NOT completed_late) AS "results saved in window",
                  count(*) FILTER (WHERE state = 'FIXED' AND completed_late) AS "results saved late (rework)",
                  count(*) FILTER (WHERE state = 'DRAFT') AS "drafts in rework" FROM communications""")
    letters = {r["source"]: r["count"] for r in await db.fetch(
        "SELECT source, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1")}
    stats = sum((b.stats for b in bots), Counter[str]()) + floor.stats
    imports = {r["state"]: r["count"] for r in await db.fetch("SELECT state, count(*) FROM lead_imports GROUP BY 1")}
    ha = {"redis failovers": redis.failovers} if isinstance(redis, SentinelRedis) else {}
    paths = {f"{r['outcome']}{' ' + r['filter'] if r['filter'] else ''}": r["count"] for r in await db.fetch(
        "SELECT outcome, filter, count(*) FROM cascade_paths GROUP BY 1, 2 ORDER BY 1, 2")}
    dnc = await db.fetchrow(
        """SELECT (SELECT count(*) FROM do_not_call) AS entries,
                  (SELECT count(*) FROM campaign_tasks WHERE close_reason = 'DO_NOT_CALL') AS closed""")
    errors = sum(n for k, n in stats.items() if k.endswith("after 500"))
    return {"shift seconds (faults phase)": round(shift_seconds, 1), "drain": drained, **ha,
            "HTTP 500 answers to the bots (each retried)": errors,
            "clients added": len(floor.task_ids), **dict(row),  # type: ignore[arg-type]
            "lead files dropped/uploaded": len(floor.files), "lead imports by state": imports,
            "lead paths (2 lead campaigns) by outcome": ", ".join(f"{k} {v}" for k, v in paths.items()) or 0,
            "do-not-call entries / due tasks closed DO_NOT_CALL at the hand-over":
                f"{dnc['entries']} / {dnc['closed']}",
            "dead letters": letters or 0, "process restarts by the runner": procs.restarts,
            "processes that died on their own": procs.died or 0,
            "bots": ", ".join(f"{k} {v}" for k, v in sorted(stats.items())),
            "python": sys.version.split()[0]}
