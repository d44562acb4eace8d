"""A MightyCall-like cloud telephony provider, simulated over real HTTP.

Provider API (what the adapter uses):
  POST   /api/v1/sessions                 {"login","password"} -> 201 {"sessionId","idleTimeoutSeconds"}
  DELETE /api/v1/sessions/{id}            -> 204
  PUT    /api/v1/sessions/{id}/status     {"status":"READY"|"BUSY"} -> 204
  GET    /api/v1/sessions/{id}/events?after=N&limit=M -> {"events":[...],"next":N}
                                          401 {"code":"SESSION_EXPIRED"} once idle past the limit or dropped
  POST   /api/v1/tasks                    {"externalId","phone"} -> 201 {"taskId","status":"NEW"}
  GET    /api/v1/tasks/{id}               -> {"taskId","externalId","phone","status"}
  DELETE /api/v1/tasks/{id}               -> 204 (409 once the call happened)
  GET    /api/v1/health                   -> {"status":"OK"}
An event: {"id":int,"type":"call.started"|"call.ended","sessionId","callId","taskId","externalId",
           "to":"+7XXXXXXXXXX","at":"ISO-8601"}.

Control endpoints (tests and demos): POST /_call {"login","phone"?,"externalId"?,"talkSeconds"?},
POST /_config {...}, POST /_faults {...}, POST /_reset, GET /_requests, GET /_state.

The dialer hands queued tasks, oldest first, to free operators: a session that is open, reported READY
(the default until the adapter reports otherwise), not on a call, and not in after-call work. After a
hang-up the operator stays busy until the adapter reports READY (the backend's result window), or for
``wrapUpFallbackSeconds`` if nothing is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody


@dataclass
class Session:
    id: str
    login: str
    last_request: float
    status: str = "READY"
    on_call: str | None = None
    busy_until: float = 0.0  # after-call work ends (fallback when the adapter reports nothing)
    wrap_up: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Task:
    id: str
    external_id: str
    phone: str
    status: str = "NEW"  # NEW, IN_PROGRESS, DONE, CANCELLED
    created: float = field(default_factory=time.monotonic)


@dataclass
class Config:
    talk_seconds: tuple[float, float] = (3.0, 8.0)
    wrap_up_fallback_seconds: float = 90.0
    session_idle_seconds: float = 900.0
    dial_interval_seconds: float = 0.2
    auto_dial: bool = True


@dataclass
class Faults:
    fail_next: int = 0  # the next N provider API requests answer 503
    fail_rate: float = 0.0  # or this share of them
    delay_seconds: float = 0.0  # each provider API request waits this long first (timeouts)
    duplicate_events: bool = False  # every event is listed twice
    reorder_events: bool = False  # a call's end is listed before its start


class Provider:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.config = Config()
        self.faults = Faults()
        self.sessions: dict[str, Session] = {}
        self.tasks: dict[str, Task] = {}
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def session(self, session_id: str) -> Session | None:
        s = self.sessions.get(session_id)
        if s is None:
            return None
        if time.monotonic() - s.last_request > self.config.session_idle_seconds:
            del self.sessions[session_id]  # the provider closes sessions idle past its limit
            return None
        s.last_request = time.monotonic()
        return s

    def emit(self, s: Session, kind: str, call_id: str, task: Task) -> dict[str, Any]:
        event = {"id": next(self._event_ids), "type": kind, "sessionId": s.id, "callId": call_id,
                 "taskId": task.id, "externalId": task.external_id, "to": "+" + task.phone,
                 "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        s.events.append(event)
        return event

    def free(self, s: Session, now: float) -> bool:
        if s.on_call or s.status != "READY":
            return False
        if s.wrap_up and now < s.busy_until:
            return False
        s.wrap_up = False
        return True

    async def talk(self, s: Session, task: Task, call_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.emit(s, "call.ended", call_id, task)
        task.status = "DONE"
        s.on_call = None
        s.wrap_up = True
        s.busy_until = time.monotonic() + self.config.wrap_up_fallback_seconds

    def start_call(self, s: Session, task: Task, talk: float | None = None) -> str:
        call_id = self.next_id("call-")
        task.status = "IN_PROGRESS"
        s.on_call = call_id
        self.emit(s, "call.started", call_id, task)
        seconds = talk if talk is not None else random.uniform(*self.config.talk_seconds)  # noqa: S311
        asyncio.get_running_loop().create_task(self.talk(s, task, call_id, seconds))
        return call_id

    async def dial_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.dial_interval_seconds)
            if not self.config.auto_dial:
                continue
            now = time.monotonic()
            idle_limit = self.config.session_idle_seconds
            free = [s for s in self.sessions.values() if now - s.last_request <= idle_limit and self.free(s, now)]
            queued = sorted((t for t in self.tasks.values() if t.status == "NEW"), key=lambda t: t.created)
            for s, task in zip(free, queued, strict=False):
                self.start_call(s, task)


provider = Provider()


def _error(status: int, code: str) -> Response[dict[str, str]]:
    return Response({"code": code}, status_code=status)


async def _faulty(request: Request[Any, Any, Any]) -> Response[dict[str, str]] | None:
    """Recorded and fault-injected: every provider API request passes here first."""
    body: Any = None
    if request.method in ("POST", "PUT"):
        with contextlib.suppress(Exception):
            body = await request.json()
    provider.requests.append({"method": request.method, "path": request.url.path,
                              "query": dict(request.query_params), "body": body, "at": time.time()})
    faults = provider.faults
    if faults.delay_seconds:
        await asyncio.sleep(faults.delay_seconds)
    if faults.fail_next > 0:
        faults.fail_next -= 1
        return _error(503, "UNAVAILABLE")
    if faults.fail_rate and random.random() < faults.fail_rate:  # noqa: S311
        return _error(503, "UNAVAILABLE")
    return None


@post("/api/v1/sessions", status_code=201)
async def open_session(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    login = str(data.get("login") or "")
    if not login:
        return _error(400, "LOGIN_REQUIRED")
    s = Session(provider.next_id("s-"), login, time.monotonic())
    provider.sessions[s.id] = s
    return Response({"sessionId": s.id, "idleTimeoutSeconds": provider.config.session_idle_seconds}, status_code=201)


@delete("/api/v1/sessions/{session_id:str}", status_code=200)
async def close_session(request: Request[Any, Any, Any], session_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    provider.sessions.pop(session_id, None)
    return Response(None, status_code=204)


@put("/api/v1/sessions/{session_id:str}/status", status_code=200)
async def set_status(request: Request[Any, Any, Any], session_id: FromPath[str],
                     data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    s = provider.session(session_id)
    if s is None:
        return _error(401, "SESSION_EXPIRED")
    status = str(data.get("status"))
    if status not in ("READY", "BUSY"):
        return _error(400, "BAD_STATUS")
    s.status = status
    if status == "READY":
        s.wrap_up = False
    return Response(None, status_code=204)


@get("/api/v1/sessions/{session_id:str}/events")
async def list_events(request: Request[Any, Any, Any], session_id: FromPath[str], after: FromQuery[int] = 0,
                      limit: FromQuery[int] = 100) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    s = provider.session(session_id)
    if s is None:
        return _error(401, "SESSION_EXPIRED")
    events = [e for e in s.events if e["id"] > after][:limit]
    listed = list(events)
    if provider.faults.reorder_events:
        listed.sort(key=lambda e: (e["callId"], e["type"] != "call.ended"))
    if provider.faults.duplicate_events:
        listed = [e for e in listed for _ in (0, 1)]
    return Response({"events": listed, "next": events[-1]["id"] if events else after})


@post("/api/v1/tasks", status_code=201)
async def add_task(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    phone = str(data.get("phone") or "").lstrip("+")
    if len(phone) != 11 or not phone.isdigit():
        return _error(400, "BAD_PHONE")
    task = Task(provider.next_id("t-"), str(data.get("externalId") or ""), phone)
    provider.tasks[task.id] = task
    return Response({"taskId": task.id, "status": task.status}, status_code=201)


def _task_out(task: Task) -> dict[str, Any]:
    return {"taskId": task.id, "externalId": task.external_id, "phone": task.phone, "status": task.status}


@get("/api/v1/tasks/{task_id:str}")
async def get_task(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    task = provider.tasks.get(task_id)
    return _error(404, "NO_SUCH_TASK") if task is None else Response(_task_out(task))


@delete("/api/v1/tasks/{task_id:str}", status_code=200)
async def cancel_task(request: Request[Any, Any, Any], task_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    task = provider.tasks.get(task_id)
    if task is None:
        return _error(404, "NO_SUCH_TASK")
    if task.status in ("IN_PROGRESS", "DONE"):
        return _error(409, "ALREADY_CALLED")
    task.status = "CANCELLED"
    return Response(None, status_code=204)


@get("/api/v1/health")
async def health(request: Request[Any, Any, Any]) -> Response[Any]:
    if (fault := await _faulty(request)) is not None:
        return fault
    return Response({"status": "OK"})


# -- control ----------------------------------------------------------------------------------------------

@post("/_call", status_code=200)
async def place_call(data: JSONBody[dict[str, Any]]) -> Response[Any]:
    """Ring operator `login` now (with a given or synthetic task), whatever the queue holds."""
    login = data.get("login")
    now = time.monotonic()
    sessions = [s for s in provider.sessions.values() if s.login == login
                and now - s.last_request <= provider.config.session_idle_seconds]
    if not sessions:
        return _error(404, "NO_SESSION")
    s = sessions[-1]
    if s.on_call:
        return _error(409, "ON_CALL")
    task = Task(provider.next_id("t-"), str(data.get("externalId") or ""), str(data.get("phone") or "79990000000"))
    provider.tasks[task.id] = task
    talk = data.get("talkSeconds")
    call_id = provider.start_call(s, task, float(talk) if talk is not None else None)
    return Response({"callId": call_id, "taskId": task.id, "sessionId": s.id})


@post("/_config", status_code=200)
async def configure(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    c = provider.config
    if "talkSeconds" in data:
        value = data["talkSeconds"]
        c.talk_seconds = (float(value[0]), float(value[1])) if isinstance(value, list) else (value, value)
    for key, attr in (("wrapUpFallbackSeconds", "wrap_up_fallback_seconds"),
                      ("sessionIdleSeconds", "session_idle_seconds"),
                      ("dialIntervalSeconds", "dial_interval_seconds")):
        if key in data:
            setattr(c, attr, float(data[key]))
    if "autoDial" in data:
        c.auto_dial = bool(data["autoDial"])
    return {"talkSeconds": list(c.talk_seconds), "wrapUpFallbackSeconds": c.wrap_up_fallback_seconds,
            "sessionIdleSeconds": c.session_idle_seconds, "autoDial": c.auto_dial}


@post("/_faults", status_code=200)
async def set_faults(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    f = provider.faults
    f.fail_next = int(data.get("failNext", f.fail_next))
    f.fail_rate = float(data.get("failRate", f.fail_rate))
    f.delay_seconds = float(data.get("delaySeconds", f.delay_seconds))
    f.duplicate_events = bool(data.get("duplicateEvents", f.duplicate_events))
    f.reorder_events = bool(data.get("reorderEvents", f.reorder_events))
    if data.get("dropSessions"):
        provider.sessions.clear()
    return {"failNext": f.fail_next, "failRate": f.fail_rate, "delaySeconds": f.delay_seconds,
            "duplicateEvents": f.duplicate_events, "reorderEvents": f.reorder_events}


@post("/_reset", status_code=200)
async def reset() -> dict[str, str]:
    provider.reset()
    return {"status": "OK"}


@get("/_requests")
async def received(path: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    return [r for r in provider.requests if path is None or r["path"].startswith(path)]


@get("/_state")
async def state() -> dict[str, Any]:
    return {
        "sessions": [{"sessionId": s.id, "login": s.login, "status": s.status, "onCall": s.on_call,
                      "wrapUp": s.wrap_up, "events": len(s.events)} for s in provider.sessions.values()],
        "tasks": [_task_out(t) for t in provider.tasks.values()],
        "events": [e for s in provider.sessions.values() for e in s.events],
    }


def create_simulator(config: Config | None = None) -> Litestar:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if config is not None:
            provider.config = config
        dialer = asyncio.create_task(provider.dial_forever())
        try:
            yield
        finally:
            dialer.cancel()

    return Litestar(
        route_handlers=[open_session, close_session, set_status, list_events, add_task, get_task, cancel_task,
                        health, place_call, configure, set_faults, reset, received, state],
        lifespan=[lifespan], openapi_config=None,
    )
