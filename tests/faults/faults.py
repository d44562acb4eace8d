"""The fault schedule and the injectors. The schedule is drawn from the seed alone (times, kinds, targets,
durations), so the same seed gives the same schedule; what the stack does with it varies with timing."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.faults.bots import Bot
from tests.faults.processes import Processes, RedisServer, ScratchPostgres, SentinelRedis

# kind -> weight in the schedule. "not covered" kinds are listed in the report, never scheduled.
KINDS: dict[str, float] = {
    "kill -9 web": 10, "kill -9 worker": 8, "kill -9 telephony": 8, "redis primary kill": 4,
    "postgresql restart": 3, "provider 5xx": 10, "provider timeouts": 7, "provider slow answers": 9,
    "provider malformed events": 10, "dropped socket": 18, "logout mid-call": 4,
    "integration 5xx": 4, "integration timeouts": 3, "integration slow answers": 3, "integration garbage": 2,
    "clock skew": 5,
}
NOT_COVERED = {
    "provider restarts": "the simulator holds the provider's state in memory; covered by "
                         "tests/integration/telephony/test_faults.py",
}
# The integration services an outage hits (one at a time, or all of them).
INTEGRATION_TARGETS = ("blacklist", "ml", "products", "all")
# libfaketime (Debian's faketime/libfaketime packages): a process started with it preloaded and FAKETIME="+N"
# reads its wall clock N seconds off (its monotonic clock by the same constant: unobservable outside it).
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
SKEW_ROLES = ("telephony", "worker")
SKEW_MAX_SECONDS = 600  # skews drawn up to ±10 minutes (a quarter of the faults set the clock right again)


def faketime_available() -> bool:
    return FAKETIME_LIB.exists()


def skew_seconds(pick: float, duration: float) -> int:
    """From the fault's own random numbers (so the seed fixes it): 0 a quarter of the time (the clock set
    right), else ±2..SKEW_MAX_SECONDS spread evenly over the orders of magnitude."""
    u = pick * 1000 % 1  # independent of which process ``pick`` chose
    if u < 0.25:
        return 0
    sign = 1 if u >= 0.625 else -1
    return sign * round(2 * (SKEW_MAX_SECONDS / 2) ** ((duration - 0.5) / 2.5))


def faketime_env(offset: int) -> dict[str, str]:
    """The environment that runs a process ``offset`` seconds off (none for 0: no preload at all)."""
    if not offset:
        return {"LD_PRELOAD": "", "FAKETIME": ""}
    return {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": f"{offset:+d}"}


@dataclass
class Fault:
    at: float  # seconds after the shift began
    kind: str
    pick: float  # which target, as a fraction of the candidates at injection time
    duration: float  # how long a window fault (provider, Redis/PostgreSQL down) lasts


def schedule(seed: int, count: int, mean_gap: float, kinds: dict[str, float]) -> list[Fault]:
    rng = random.Random(seed)
    names, weights = list(kinds), list(kinds.values())
    at, out = 0.0, []
    for _ in range(count):
        at += rng.expovariate(1 / mean_gap)
        out.append(Fault(round(at, 3), rng.choices(names, weights)[0], rng.random(), rng.uniform(0.5, 3.0)))
    return out


class Injector:
    """Injects one fault; returns what it did (for the log). A window fault is undone in the background."""

    def __init__(self, procs: Processes, redis: RedisServer | SentinelRedis, pg: ScratchPostgres | None, sim_url: str,
                 http: httpx.AsyncClient, bots: list[Bot], provider_timeout: float, integrations_url: str = "",
                 integration_timeout: float = 1.0) -> None:
        self.procs, self.redis, self.pg, self.sim_url, self.http = procs, redis, pg, sim_url, http
        self.bots, self.provider_timeout = bots, provider_timeout
        self.integrations_url, self.integration_timeout = integrations_url, integration_timeout
        self.skews: dict[str, int] = {}  # process -> its clock's offset now (seconds)
        self.background: set[asyncio.Task[None]] = set()
        self.locks: dict[str, asyncio.Lock] = {}
        self.injected, self.skipped = Counter[str](), Counter[str]()

    async def sim_faults(self, body: dict[str, Any]) -> None:
        for _ in range(20):
            try:
                (await self.http.post(self.sim_url + "/_faults", json=body)).raise_for_status()
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.2)

    async def integration_faults(self, service: str, body: dict[str, Any]) -> None:
        for _ in range(20):
            try:
                (await self.http.post(f"{self.integrations_url}/_control/faults/{service}", json=body)
                 ).raise_for_status()
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.2)

    def later(self, seconds: float, undo: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            await undo()
        task = asyncio.create_task(run())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def inject(self, fault: Fault) -> str:
        # One fault of a family at a time (one provider window, one Redis or PostgreSQL outage): the next
        # waits for the previous to end, so an undo never cancels a later fault's setting.
        lock = self.locks.setdefault(fault.kind.split()[0], asyncio.Lock())
        await lock.acquire()
        try:
            detail = await self._inject(fault, lock)
        except BaseException:
            if lock.locked():
                lock.release()
            raise
        if detail.startswith("skipped"):
            self.skipped[fault.kind] += 1
        else:
            self.injected[fault.kind] += 1
        return detail

    async def _inject(self, fault: Fault, lock: asyncio.Lock) -> str:
        kind, pick, duration = fault.kind, fault.pick, fault.duration
        if kind.startswith("kill -9"):
            role = kind.split()[-1]
            names = [n for n in self.procs.names(role) if n not in self.procs.restarting]
            lock.release()
            if not names:
                return f"skipped: every {role} is restarting"
            name = names[int(pick * len(names))]
            await self.procs.kill(name, down=0.2)
            return f"{name} killed, restarting"
        if kind == "redis primary kill":
            try:
                detail = await asyncio.to_thread(self.redis.fail, duration / 2)
            except BaseException:
                lock.release()
                raise

            async def settle() -> None:  # the next Redis fault waits for the recovery (one failure at a time)
                try:
                    await asyncio.to_thread(self.redis.settle)
                finally:
                    lock.release()
            self.later(0, settle)
            return detail
        if kind == "postgresql restart":
            pg = self.pg
            if pg is None:
                lock.release()
                return "skipped: no scratch cluster"
            try:
                await asyncio.to_thread(pg.restart, duration / 3)
            finally:
                lock.release()
            return f"pg_ctl stop -m immediate, down {duration / 3:.1f} s, crash recovery on start"
        if kind == "dropped socket":
            lock.release()
            live = [b for b in self.bots if b.ws is not None]
            if not live:
                return "skipped: no socket open"
            bot = live[int(pick * len(live))]
            return f"{bot.login}'s socket aborted (no close frame)" if bot.drop_socket() else "skipped: closing"
        if kind == "logout mid-call":
            lock.release()
            busy = [b for b in self.bots if b.on_call is not None and b.token is not None] or \
                [b for b in self.bots if b.token is not None]
            if not busy:
                return "skipped: nobody logged in"
            bot = busy[int(pick * len(busy))]

            async def away() -> None:
                with contextlib.suppress(httpx.HTTPError):
                    await bot.log_out_and_back(self.http, 1 + duration)
            self.later(0, away)
            when = "mid-call" if bot.on_call else "between calls"
            return f"{bot.login} logs out {when}, back {1 + duration:.1f} s later"
        if kind == "provider 5xx":
            await self.sim_faults({"failRate": 0.5})
            self.later(duration, lambda: self._clear({"failRate": 0}, lock))
            return f"half the provider's answers 503 for {duration:.1f} s"
        if kind == "provider timeouts":
            await self.sim_faults({"delaySeconds": self.provider_timeout + 0.5})
            self.later(duration, lambda: self._clear({"delaySeconds": 0}, lock))
            return f"every provider answer later than PROVIDER_TIMEOUT for {duration:.1f} s"
        if kind == "provider slow answers":
            slow = round(self.provider_timeout * 0.6, 2)
            await self.sim_faults({"delaySeconds": slow})
            self.later(duration, lambda: self._clear({"delaySeconds": 0}, lock))
            return f"every provider answer {slow} s late for {duration:.1f} s"
        if kind.startswith("integration"):
            service = INTEGRATION_TARGETS[int(pick * len(INTEGRATION_TARGETS))]
            window = 3 * duration  # 1.5-9 s: long enough for a cascade batch to meet it
            fault, what = {
                "integration 5xx": ({"status": 503}, "every answer 503"),
                "integration timeouts": ({"hang": True}, "no answer (every request times out)"),
                "integration slow answers": ({"latencyMs": round(self.integration_timeout * 600)},
                                             f"every answer {self.integration_timeout * 0.6:.1f} s late"),
                "integration garbage": ({"garbage": True}, "200 with a body that is not the service's JSON"),
            }[kind]
            await self.integration_faults(service, fault)
            clear = {"status": None, "hang": False, "latencyMs": 0, "garbage": False}
            self.later(window, lambda: self._clear_integration(service, clear, lock))
            return f"{service}: {what} for {window:.1f} s"
        if kind == "clock skew":
            lock.release()
            names = [n for role in SKEW_ROLES for n in self.procs.names(role) if n not in self.procs.restarting]
            if not names:
                return "skipped: every telephony and worker is restarting"
            name = names[int(pick * len(names))]
            offset = skew_seconds(pick, duration)
            self.procs.set_env(name, faketime_env(offset))
            self.skews[name] = offset
            await self.procs.kill(name, down=0.2)
            return (f"{name} restarted with its clock {offset:+d} s off" if offset
                    else f"{name} restarted with its clock right")
        if kind == "provider malformed events":
            n = 1 + int(pick * 5)
            await self.sim_faults({"malformedNext": n})
            lock.release()
            return f"the next {n} event listings carry an event that does not parse"
        lock.release()
        raise ValueError(kind)

    async def _clear(self, body: dict[str, Any], lock: asyncio.Lock) -> None:
        try:
            await self.sim_faults(body)
        finally:
            lock.release()

    async def _clear_integration(self, service: str, body: dict[str, Any], lock: asyncio.Lock) -> None:
        try:
            await self.integration_faults(service, body)
        finally:
            lock.release()

    async def quiesce(self) -> None:
        """Let every window end and every killed process come back."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)
        await self.sim_faults({"failRate": 0, "delaySeconds": 0, "malformedNext": 0})
        if self.integrations_url:
            await self.integration_faults("all", {"status": None, "hang": False, "latencyMs": 0, "garbage": False})
        deadline = time.monotonic() + 120
        while not self.procs.all_up() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
