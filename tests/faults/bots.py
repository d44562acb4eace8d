"""Operator bots over the real WebSocket and REST: each logs in, holds a socket (on any web process, resuming
with the last seq it saw), takes calls, saves drafts (with the version it last saw) and results, leaves some
to expire into rework and fixes part of those later from the rework list. Everything the server said it
saved (HTTP 200) and every frame it pushed is recorded for the invariant checker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

PASSWORD = "faults-suite-password"


@dataclass
class Saved:
    """What the server answered 200 to: the last draft (its version and words) and the result, if any."""

    drafts: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    result: dict[str, str] | None = None


class Bot:
    """One operator. ``webs`` answers the web process URLs; a socket goes to a random one each time."""

    def __init__(self, login: str, operator_id: int, webs: Callable[[], list[str]], seed: int) -> None:
        self.login, self.operator_id, self.webs, self.rng = login, operator_id, webs, random.Random(seed)
        self.token: str | None = None
        self.last_seq: int | None = None
        self.first_seq: int | None = None  # the watermark of the first HELLO_OK: every later seq must arrive
        self.seqs: dict[int, tuple[str, int | None]] = {}  # seq -> (event type, communicationId) as pushed
        self.gaps = 0  # a pushed seq that was not the previous + 1
        self.resyncs = 0
        self.foreign = 0  # HELLO_OK for another operator
        self.on_call: int | None = None
        self.phones: dict[int, str] = {}
        self.saved: dict[int, Saved] = {}
        self.stats = Counter[str]()
        self.tasks: set[asyncio.Task[None]] = set()
        self.ws: Any = None
        self.stopping = False
        self.rework: list[int] = []
        self.away = False

    def web(self) -> str:
        return self.rng.choice(self.webs())

    # -- the socket ---------------------------------------------------------------------------------------------

    async def run(self, http: httpx.AsyncClient) -> None:
        while not self.stopping:
            if self.away:
                await asyncio.sleep(0.1)
                continue
            base = self.web()
            try:
                if self.token is None:
                    r = await http.post(f"{base}/api/arm/v1/login", json={"login": self.login, "password": PASSWORD})
                    self.token = r.raise_for_status().json()["data"]["token"]
                async with websockets.connect(base.replace("http", "ws", 1) + "/api/arm/v1/ws", open_timeout=5,
                                              close_timeout=1) as ws:
                    self.ws = ws
                    await ws.send(json.dumps({"type": "HELLO", "token": self.token, "lastSeq": self.last_seq}))
                    async for text in ws:
                        await self.handle(http, ws, json.loads(text))
            except Exception as exc:  # a killed web, a dropped socket, Redis or PostgreSQL down: come back
                self.stats[f"socket lost ({type(exc).__name__})"] += 1
            finally:
                self.ws = None
            await asyncio.sleep(self.rng.uniform(0.2, 0.8))

    async def log_out_and_back(self, http: httpx.AsyncClient, away: float) -> str:
        """Log out (mid-call if on one: that window goes to rework unsaved), stay away, then log in again; the
        socket resumes with the last seq under the new session."""
        token, cid = self.token, self.on_call
        if token is None:
            return "skipped: not logged in"
        self.away = True
        try:
            r = await http.get(f"{self.web()}/api/arm/v1/logout", headers={"Authorization": f"Bearer {token}"})
            self.token = None
            self.drop_socket()
            await asyncio.sleep(away)
        finally:
            self.away = False
        where = f"during communication {cid}" if cid else "between calls"
        return f"{self.login} logged out ({r.status_code}) {where}, back {away:.1f} s later"

    def drop_socket(self) -> bool:
        """Close the socket abruptly (no close frame): the bot comes back with its last seq."""
        ws = self.ws
        if ws is None or ws.transport is None:
            return False
        ws.transport.abort()
        return True

    async def handle(self, http: httpx.AsyncClient, ws: Any, frame: dict[str, Any]) -> None:
        kind, data, seq = frame["type"], frame.get("data") or {}, frame.get("seq")
        if kind == "HELLO_OK":
            if data.get("operatorId") != self.operator_id:
                self.foreign += 1
            if self.last_seq is None:
                self.last_seq = self.first_seq = data["lastSeq"]
            return
        if kind == "RESYNC":
            self.resyncs += 1
            self.last_seq = seq
            return
        if kind in ("SESSION_ENDED", "ERROR"):
            self.token = None
            return
        if kind == "PING":
            await ws.send('{"type":"PONG"}')
            return
        if seq is None:
            return
        if self.last_seq is not None and seq != self.last_seq + 1:
            if seq <= self.last_seq:
                self.stats["repeated frames"] += 1
                return
            self.gaps += 1
        self.last_seq = seq
        self.seqs[seq] = (kind, data.get("communicationId"))
        if kind == "CLIENT_CARD_READY":
            cid = data["communicationId"]
            self.on_call = cid
            self.phones[cid] = data["clientCard"]["clientInfo"]["phone"]
            self.stats["cards"] += 1
            if self.rng.random() < 0.5:
                self.spawn(self.draft(http, cid, self.rng.uniform(0.1, 1.0)))
        elif kind == "CALL_ENDED":
            cid = data["communicationId"]
            self.on_call = None if self.on_call == cid else self.on_call
            self.stats["call ends"] += 1
            if cid not in self.phones:
                return
            roll = self.rng.random()
            if roll < 0.7:
                self.spawn(self.finish(http, cid))
            elif roll < 0.85:  # words only, then the window expires: rework
                self.spawn(self.draft(http, cid, self.rng.uniform(0.2, 1.5)))
                self.rework.append(cid)
            else:
                self.stats["left to expire"] += 1
                self.rework.append(cid)
        elif kind == "RESULT_WINDOW_EXPIRED":
            cid = data["communicationId"]
            if cid in self.phones and self.rng.random() < 0.4:  # fixed later from the rework list
                self.spawn(self.finish(http, cid, delay=self.rng.uniform(1, 4), late=True))

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- saving -------------------------------------------------------------------------------------------------

    async def post(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response | None:
        """POST through faults: retried while the answer is lost or a 5xx/429, at most ~20 s."""
        for attempt in range(40):
            if self.token is not None:
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.post(f"{self.web()}{path}", json=body,
                                        headers={"Authorization": f"Bearer {self.token}"})
                    if r.status_code < 500 and r.status_code not in (401, 429):
                        return r
                    self.stats[f"{path.rsplit('/', 1)[-1]} retried after {r.status_code}"] += 1
            await asyncio.sleep(min(0.2 * (attempt + 1), 1.0))
        return None

    async def draft(self, http: httpx.AsyncClient, cid: int, delay: float) -> None:
        await asyncio.sleep(delay)
        saved = self.saved.setdefault(cid, Saved())
        version = saved.drafts[-1][0] if saved.drafts else 0
        words = {"comment": f"draft {self.rng.randrange(10**6)} of {self.login}"}
        r = await self.post(http, "/api/arm/v1/saveCommunicationDraft", {
            "communicationId": cid, "clientPhone": self.phones[cid], "communicationResult": words,
            "draftVersion": version})
        if r is None:
            self.stats["draft gave up"] += 1
        elif r.status_code == 200:
            saved.drafts.append((r.json()["data"]["draftVersion"], words))
            self.stats["drafts saved"] += 1
        else:
            self.stats[f"draft answered {r.status_code} {r.json().get('code', '')}"] += 1

    async def finish(self, http: httpx.AsyncClient, cid: int, delay: float | None = None, late: bool = False) -> None:
        await asyncio.sleep(self.rng.uniform(0.3, 2.0) if delay is None else delay)
        words = {"result": "Согласие", "comment": f"result {self.rng.randrange(10**6)} of {self.login}"}
        r = await self.post(http, "/api/arm/v1/saveCommunicationResult", {
            "communicationId": cid, "clientPhone": self.phones[cid], "communicationResult": words})
        if r is None:
            self.stats["result gave up"] += 1
        elif r.status_code == 200:
            self.saved.setdefault(cid, Saved()).result = words
            self.stats["results saved late" if late else "results saved"] += 1
        else:
            self.stats[f"result answered {r.status_code} {r.json().get('code', '')}"] += 1

    async def settle(self) -> None:
        """Wait for the saves under way."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
