"""The floor's steady work besides the bots: an admin who creates the operators and the campaign, clients
entering the campaign at a steady rate over REST, phones of open tasks put on the do-not-call list now and then,
and lead files dropped into a stream folder or uploaded so that imports run — and run through the filter cascade
of two lead campaigns whose rules ask the integration services. Every request is retried through faults; what
was accepted is recorded for the checks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from backend.leads import generate
from tests.faults.bots import PASSWORD, Bot

# The two lead campaigns: their cascades read every lead file, each through integration filters of its own
# (no service answers both, so an answer to one campaign's lead cannot vouch for the other's). Calling days:
# only the weekday three days ahead, so their tasks stay NEW and the dialling load is the REST clients'.
LEAD_CAMPAIGNS: dict[str, dict[str, Any]] = {
    "Заявки: чёрный список и ML телефона": {"filters-order": ["PHONE_BLACK_LIST", "ML_PHONE"], "ml-skip-error": False},
    "Заявки: ML устройства и продукты": {"filters-order": ["ML_DEVICE", "AVAILABLE_PRODUCTS"], "ml-skip-error": True},
}
# What the integrations simulator answers: a stable fifth of the leads rejected by each ML model (by a hash of
# model and application number); BlackList lists nobody unless told; every client type gets "express".
ML_REJECT_RATE = {"PHONE": 0.2, "DEVICE": 0.2}


@dataclass
class LeadFile:
    name: str
    sha256: str
    rows: int
    via: str  # folder | upload


class Floor:
    def __init__(self, http: httpx.AsyncClient, webs: Callable[[], list[str]], leads_dir: Path, seed: int) -> None:
        self.http, self.webs, self.leads_dir = http, webs, leads_dir
        self.rng = random.Random(seed)
        self.admin: dict[str, str] = {}
        self.campaign = 0
        self.lead_campaigns: dict[int, dict[str, Any]] = {}  # campaign id -> its rules
        self.task_ids: list[int] = []
        self.phones: list[str] = []  # of the clients added, in order
        self.dnc: list[str] = []  # phones put on the do-not-call list (answered 200)
        self.files: list[LeadFile] = []
        self.stats = Counter[str]()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Through faults: a lost answer or a 5xx is tried again (on any web process), for up to ~60 s."""
        for attempt in range(120):
            with contextlib.suppress(httpx.HTTPError):
                r = await self.http.request(method, self.rng.choice(self.webs()) + path, headers=self.admin, **kwargs)
                if r.status_code < 500 and r.status_code != 429:
                    return r
            self.stats["admin request retried"] += 1
            await asyncio.sleep(min(0.1 * (attempt + 1), 1.0))
        raise RuntimeError(f"{method} {path}: no answer through the faults")

    async def seed(self, db_execute: Callable[..., Any], operators: int, bot_seed: int) -> list[Bot]:
        """The admin (straight into PostgreSQL), then the operators and the campaign over REST."""
        from backend.auth.passwords import hash_sync

        await db_execute("INSERT INTO operators (login, password_hash, role, first_name, last_name) "
                         "VALUES ('faults-admin', $1, 'admin', 'Админ', 'Сбоев')", await asyncio.to_thread(
                             hash_sync, PASSWORD))
        r = await self.request("POST", "/api/arm/v1/login", json={"login": "faults-admin", "password": PASSWORD})
        self.admin = {"Authorization": f"Bearer {r.raise_for_status().json()['data']['token']}"}
        bots = []
        for i in range(operators):
            r = await self.request("POST", "/api/admin/v1/operators", json={
                "login": f"faults-op{i}", "password": PASSWORD, "role": "operator", "firstName": "Бот",
                "lastName": f"Номер{i}"})
            bots.append(Bot(f"faults-op{i}", r.raise_for_status().json()["data"]["id"], self.webs, bot_seed + i))
        r = await self.request("POST", "/api/admin/v1/campaigns", json={"name": "Под сбоями"})
        self.campaign = r.raise_for_status().json()["data"]["id"]
        day = (datetime.now(UTC) + timedelta(days=3)).isoweekday()
        for name, extra in LEAD_CAMPAIGNS.items():
            r = await self.request("POST", "/api/admin/v1/campaigns", json={"name": name})
            cid = r.raise_for_status().json()["data"]["id"]
            rules = {"data-streams": ["MOBILE_LOANS"], "available-products": ["express"], "calling-days": [day],
                     "time-zone": "UTC", **extra}
            (await self.request("PUT", f"/api/admin/v1/campaigns/{cid}/rules", json=rules)).raise_for_status()
            self.lead_campaigns[cid] = rules
        return bots

    async def add_task(self) -> None:
        """One client enters the campaign, due now or (a third of them) within 20 s, so that do-not-call
        entries meet tasks before, during and after their hand-over (a fresh phone: a retry of a lost answer
        cancels the first)."""
        phone = f"79{self.rng.randrange(10**9):09d}"
        later = self.rng.uniform(2, 20) if self.rng.random() < 1 / 3 else 0.0
        r = await self.request("POST", f"/api/admin/v1/campaigns/{self.campaign}/tasks", json={
            "phone": phone, "clientInfo": {"lastName": "Клиентова"},
            "taskTime": (datetime.now(UTC) + timedelta(seconds=later)).isoformat()})
        if r.status_code == 201:
            self.task_ids.append(r.json()["data"]["campaignTaskId"])
            self.phones.append(phone)
            self.stats["clients added"] += 1
        else:
            self.stats[f"client add answered {r.status_code}"] += 1

    async def add_dnc(self) -> None:
        """An admin puts the phone of a recently added client (an open task: due, handed over or queued at the
        provider) on the do-not-call list; from then on no hand-over may dial it."""
        fresh = [p for p in self.phones[-12:] if p not in self.dnc]
        if not fresh:
            return
        phone = self.rng.choice(fresh)
        r = await self.request("POST", "/api/admin/v1/do-not-call",
                               json={"phone": phone, "reason": "просил не звонить"})
        if r.status_code == 200:
            self.dnc.append(phone)
            self.stats["do-not-call entries added"] += 1
        else:
            self.stats[f"do-not-call answered {r.status_code}"] += 1

    async def drop_file(self, rows: int = 200) -> None:
        """A lead file of fresh applications: into the stream folder (written aside and renamed), or uploaded."""
        n = len(self.files)
        name = f"leads-{n:05d}-{self.rng.randrange(10**6):06d}.csv"
        start = 10**10 + self.rng.randrange(10**12)
        if self.rng.random() < 0.7:
            path = self.leads_dir / "mobile_loans" / name
            await asyncio.to_thread(generate.write_file, path, rows, seed=self.rng.randrange(10**9), start=start)
            data = await asyncio.to_thread(path.read_bytes)
            self.files.append(LeadFile(name, hashlib.sha256(data).hexdigest(), rows, "folder"))
            return
        tmp = self.leads_dir / ".faults" / name
        tmp.parent.mkdir(exist_ok=True)
        await asyncio.to_thread(generate.write_file, tmp, rows, seed=self.rng.randrange(10**9), start=start)
        data = await asyncio.to_thread(tmp.read_bytes)
        r = await self.request("POST", "/api/admin/v1/lead-imports", data={"stream": "MOBILE_LOANS"},
                               files={"file": (name, data, "text/csv")})
        if r.status_code in (202, 409):  # 409 DUPLICATE_FILE: the first try's answer was lost
            self.files.append(LeadFile(name, hashlib.sha256(data).hexdigest(), rows, "upload"))
        else:
            self.stats[f"upload answered {r.status_code}"] += 1

    async def run(self, clients_per_second: float, files_per_minute: float, dnc_share: float = 0.12) -> None:
        """Until cancelled: clients at the rate (Poisson), a do-not-call entry after about ``dnc_share`` of
        them, a lead file now and then."""
        next_file = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.rng.expovariate(clients_per_second))
            try:
                await self.add_task()
                if self.rng.random() < dnc_share:
                    await self.add_dnc()
                if files_per_minute and loop.time() >= next_file:
                    next_file = loop.time() + self.rng.expovariate(files_per_minute / 60)
                    await self.drop_file()
            except Exception as exc:  # counted (and shown in the figures), never the end of the traffic
                self.stats[f"floor error {type(exc).__name__}: {str(exc)[:80]}"] += 1
