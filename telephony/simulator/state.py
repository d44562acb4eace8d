"""The simulated provider's state and its dialer: sessions, tasks, calls and the events they emit."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import deque
from typing import Any

from telephony.simulator.model import Call, Config, Faults, Ids, Session, Task, event_id, now_iso


class Provider:
    def __init__(self, config: Config | None = None) -> None:
        self.calls: dict[str, Call] = {}
        self.ids = Ids()
        self._started_with = config or Config()
        self.reset(config)

    def reset(self, config: Config | None = None) -> None:
        """Forget everything and begin a new epoch (event ids keep counting up); the config is the one
        given, else the one this simulator started with."""
        for call in self.calls.values():
            if call.timer is not None:
                call.timer.cancel()
        self.config = config or dataclasses.replace(self._started_with)
        self.faults = Faults()
        self.ids = Ids(after_event=self.ids.last_event)
        self.sessions: dict[str, Session] = {}
        self.tasks: dict[str, Task] = {}
        self.calls = {}
        self.idempotency: dict[str, str] = {}  # Idempotency-Key -> task id
        self.session_keys: dict[str, str] = {}  # Idempotency-Key -> session id (while that session is open)
        # (method, path, raw query, JSON body, Idempotency-Key, time.time(), User-Agent) of each API request
        self.requests: deque[tuple[str, str, bytes, Any, str | None, float, str]] = deque(
            maxlen=self.config.max_requests)
        # login -> runs of event listings by one client (User-Agent): [agent, count, first, last time.time()];
        # one client polling an operator is one run, two polling it at once alternate (GET /_polls)
        self.polls: dict[str, deque[list[Any]]] = {}

    def polled(self, login: str, agent: str) -> None:
        runs = self.polls.setdefault(login, deque(maxlen=200))
        now = time.time()
        if runs and runs[-1][0] == agent:
            runs[-1][1] += 1
            runs[-1][3] = now
        else:
            runs.append([agent, 1, now, now])

    # -- sessions -------------------------------------------------------------------------------------

    def open_session(self, login: str, key: str | None = None) -> tuple[Session, bool]:
        """(the session, whether it is new). A repeated request with the same Idempotency-Key gets the
        session the first one opened while that session is open (a client whose answer was lost does not leave
        a second session behind, READY and ringing, that nobody reads); once it is closed or lapsed, a new one."""
        if key is not None and (known := self.session_keys.get(key)) is not None:
            existing = self.session(known)
            if existing is not None and existing.login == login:
                return existing, False
        s = Session(self.ids.next("s"), login, time.monotonic(), deque(maxlen=self.config.max_session_events))
        self.sessions[s.id] = s
        if key is not None:
            self.session_keys[key] = s.id
        return s, True

    def session(self, session_id: str) -> Session | None:
        """The session, touched (its idle time starts again), or None if closed or idle past the limit."""
        s = self.sessions.get(session_id)
        if s is None:
            return None
        if time.monotonic() - s.last_request > self.config.session_idle_seconds:
            del self.sessions[session_id]  # the provider closes sessions idle past its limit
            return None
        s.last_request = time.monotonic()
        return s

    def session_of(self, login: str) -> Session | None:
        """The operator's newest open session (not touched: control requests are not the operator's)."""
        now = time.monotonic()
        live = [s for s in self.sessions.values()
                if s.login == login and now - s.last_request <= self.config.session_idle_seconds]
        return live[-1] if live else None

    def expire_sessions(self, now: float) -> None:
        for s in [s for s in self.sessions.values() if now - s.last_request > self.config.session_idle_seconds]:
            del self.sessions[s.id]

    # -- events ---------------------------------------------------------------------------------------

    def emit(self, s: Session, kind: str, call: Call) -> dict[str, Any] | None:
        if kind == "call.ended" and call.id in self.faults.drop_end_of:
            self.faults.drop_end_of.discard(call.id)  # a lost hang-up: never listed
            return None
        task = call.task
        event = {"id": self.ids.next_event(), "type": kind, "sessionId": s.id, "callId": call.id,
                 "taskId": task.id, "externalId": task.external_id, "to": "+" + task.phone, "at": now_iso()}
        s.events.append(event)
        return event

    def append_raw(self, s: Session, raw: Any) -> Any:
        """Store an arbitrary event as given; an object without an ``id`` gets the next one."""
        if isinstance(raw, dict):
            raw = dict(raw)
            if "id" not in raw:
                raw["id"] = self.ids.next_event()
            if (eid := event_id(raw)) is not None:
                self.ids.seen(eid)
        s.events.append(raw)
        return raw

    def append_malformed(self, s: Session) -> Any:
        """An event of a type the adapter does not know, without a task: it advances the cursor."""
        return self.append_raw(s, {"type": "call.transferred", "sessionId": s.id,
                                   "callId": self.ids.next("call"), "at": now_iso()})

    # -- tasks and calls ------------------------------------------------------------------------------

    def new_task(self, external_id: str, phone: str, idempotency_key: str | None = None) -> Task:
        task = Task(self.ids.next("t"), external_id, phone, idempotency_key)
        self.tasks[task.id] = task
        if idempotency_key:
            self.idempotency[idempotency_key] = task.id
        if len(self.tasks) > self.config.max_finished:
            self._forget_finished()
        return task

    def task_by_key(self, idempotency_key: str) -> Task | None:
        task_id = self.idempotency.get(idempotency_key)
        return self.tasks.get(task_id) if task_id else None

    def _forget_finished(self) -> None:
        """Drop the oldest finished tasks and ended calls down to 90% of the limit."""
        keep = self.config.max_finished * 9 // 10
        for task in [t for t in self.tasks.values() if t.finished][: max(len(self.tasks) - keep, 0)]:
            del self.tasks[task.id]
            if task.idempotency_key:
                self.idempotency.pop(task.idempotency_key, None)
        ended = [c for c in self.calls.values() if c.ended_at is not None]
        for call in ended[: max(len(self.calls) - keep, 0)]:
            del self.calls[call.id]

    def free(self, s: Session, now: float) -> bool:
        if s.on_call or s.status != "READY":
            return False
        if s.wrap_up and now < s.busy_until:
            return False
        s.wrap_up = False
        return True

    def start_call(self, s: Session, task: Task, talk: float | None = None) -> Call:
        call = Call(self.ids.next("call"), s, task, now_iso())
        self.calls[call.id] = call
        if len(self.calls) > self.config.max_finished:
            self._forget_finished()
        task.status = "IN_PROGRESS"
        s.on_call = call.id
        self.emit(s, "call.started", call)
        seconds = talk if talk is not None else random.uniform(*self.config.talk_seconds)  # noqa: S311
        call.timer = asyncio.get_running_loop().create_task(self._talk(call, seconds))
        return call

    async def _talk(self, call: Call, seconds: float) -> None:
        await asyncio.sleep(seconds)
        call.timer = None
        self.end_call(call)

    def end_call(self, call: Call) -> bool:
        """Hang up (False if it already ended): call.ended (unless dropped), the task DONE, the operator in
        after-call work."""
        if call.ended_at is not None:
            return False
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        call.ended_at = now_iso()
        s = call.session
        self.emit(s, "call.ended", call)
        call.task.status = "DONE"
        if s.on_call == call.id:
            s.on_call = None
        s.wrap_up = True
        s.busy_until = time.monotonic() + self.config.wrap_up_fallback_seconds
        return True

    async def dial_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.dial_interval_seconds)
            now = time.monotonic()
            self.expire_sessions(now)
            if not self.config.auto_dial:
                continue
            free = [s for s in self.sessions.values() if self.free(s, now)]
            queued = sorted((t for t in self.tasks.values() if t.status == "NEW"), key=lambda t: t.created)
            for s, task in zip(free, queued, strict=False):
                self.start_call(s, task)
