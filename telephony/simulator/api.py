"""The provider API routes (what the adapter uses); documented in telephony/simulator/app.py."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from typing import Annotated, Any, TypeAlias
from urllib.parse import parse_qsl

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from telephony.simulator.model import Call, Task, listing
from telephony.simulator.state import Provider

Req: TypeAlias = Request[Any, Any, Any]
ProviderDep: TypeAlias = NamedDependency[Provider]  # injected by name: this app's provider


def provider_of(state: State) -> Provider:
    """The dependency ``provider``: the state of this app (each create_simulator has its own)."""
    provider: Provider = state.provider
    return provider


def error(status: int, code: str) -> Response[Any]:
    return Response({"code": code}, status_code=status)


async def _faulty(request: Req, provider: Provider) -> Response[Any] | None:
    """Recorded and fault-injected: every provider API request passes here first (the event listing
    through ``events_fast_path``, which shares ``_fault_of``)."""
    scope = request.scope
    body: Any = None
    key = None
    if scope["method"] in ("POST", "PUT"):
        with contextlib.suppress(Exception):
            body = await request.json()
        key = request.headers.get("idempotency-key")
    fault = await _fault_of(provider, scope["method"], scope["path"], scope["query_string"], body, key,
                            request.headers.get("user-agent", ""))
    if fault is None:
        return None
    status, code, headers = fault
    return Response({"code": code}, status_code=status, headers=headers)


async def _fault_of(provider: Provider, method: str, path: str, query: bytes, body: Any,
                    key: str | None, agent: str) -> tuple[int, str, dict[str, str]] | None:
    """Record the request (a tuple, rendered by GET /_requests: logging costs next to nothing) and answer
    the fault it should get, if any: (status, code, headers)."""
    provider.requests.append((method, path, query, body, key, time.time(), agent))
    faults = provider.faults
    if faults.delay_seconds:
        await asyncio.sleep(faults.delay_seconds)
    if faults.delay_paths and (delay := _by_suffix(faults.delay_paths, path)):
        await asyncio.sleep(delay)
    if faults.throttle_paths and (wait := _by_suffix(faults.throttle_paths, path)) is not None:
        return 429, "TOO_MANY_REQUESTS", {"Retry-After": f"{wait:g}"}
    if path in faults.fail_paths:
        return 503, "UNAVAILABLE", {}
    if faults.fail_next > 0:
        faults.fail_next -= 1
        return 503, "UNAVAILABLE", {}
    if faults.fail_rate and random.random() < faults.fail_rate:  # noqa: S311
        return 503, "UNAVAILABLE", {}
    return None


def _by_suffix(table: dict[str, float], path: str) -> float | None:
    for suffix, value in table.items():
        if path.endswith(suffix):
            return value
    return None


@post("/api/v1/sessions", status_code=201)
async def open_session(request: Req, provider: ProviderDep,
                       data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    login = str(data.get("login") or "")
    if not login:
        return error(400, "LOGIN_REQUIRED")
    status = data.get("status", "READY")
    if status not in ("READY", "BUSY"):
        return error(400, "BAD_STATUS")
    s, new = provider.open_session(login, request.headers.get("idempotency-key") or None)
    if new:  # an open repeated with its key gets the session as it is (its status may have moved on since)
        s.status = status
    return Response({"sessionId": s.id, "idleTimeoutSeconds": provider.config.session_idle_seconds},
                    status_code=201 if new else 200)


@delete("/api/v1/sessions/{session_id:str}", status_code=200)
async def close_session(request: Req, provider: ProviderDep, session_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    provider.sessions.pop(session_id, None)
    return Response(None, status_code=204)


@put("/api/v1/sessions/{session_id:str}/status", status_code=200)
async def set_status(request: Req, provider: ProviderDep, session_id: FromPath[str],
                     data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    s = provider.session(session_id)
    if s is None:
        return error(401, "SESSION_EXPIRED")
    status = str(data.get("status"))
    if status not in ("READY", "BUSY"):
        return error(400, "BAD_STATUS")
    s.status = status
    if status == "READY":
        s.wrap_up = False
    return Response(None, status_code=204)


def list_events(provider: Provider, session_id: str, after: int, limit: int, agent: str = "") -> tuple[int, Any]:
    """GET /api/v1/sessions/{id}/events: (status, answer) — the events after the cursor, faults applied;
    which client (User-Agent) listed them is recorded per operator (GET /_polls)."""
    s = provider.session(session_id)
    if s is None:
        return 401, {"code": "SESSION_EXPIRED"}
    provider.polled(s.login, agent)
    if provider.faults.malformed_next > 0:
        provider.faults.malformed_next -= 1
        provider.append_malformed(s)
    listed, cursor = listing(s.events, after, limit)
    if provider.faults.reorder_events:
        listed.sort(key=lambda e: (str(e.get("callId")), e.get("type") != "call.ended") if isinstance(e, dict)
                    else ("", True))
    if provider.faults.duplicate_events:
        listed = [e for e in listed for _ in (0, 1)]
    return 200, {"events": listed, "next": cursor}


EVENTS_PATH = re.compile(r"^/api/v1/sessions/([^/]+)/events$")
_JSON = (b"content-type", b"application/json")


def events_fast_path(app: ASGIApp, provider: Provider) -> ASGIApp:
    """The event listing — every operator's poll, thousands a second — answered in plain ASGI, without the
    framework's routing, dependency injection and parameter parsing: measured, the simulator's CPU per poll
    falls from 0.072 to 0.026 ms (uvicorn, uvloop, httptools), so the bench measures the poller, not this.
    Every other request goes to the Litestar app."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        http: Any = scope  # a plain dict: the HTTP scope's keys
        match = EVENTS_PATH.match(http["path"]) if http["type"] == "http" and http["method"] == "GET" else None
        if match is None:
            await app(scope, receive, send)
            return
        query = http["query_string"]
        agent = next((v.decode("latin-1") for k, v in http["headers"] if k == b"user-agent"), "")
        fault = await _fault_of(provider, "GET", http["path"], query, None, None, agent)
        headers: list[tuple[bytes, bytes]] = [_JSON]
        if fault is not None:
            status, answer = fault[0], {"code": fault[1]}
            headers += [(k.lower().encode(), v.encode()) for k, v in fault[2].items()]
        else:
            try:
                params = dict(parse_qsl(query.decode("latin-1")))
                after, limit = int(params.get("after", 0)), int(params.get("limit", 100))
            except ValueError:
                status, answer = 400, {"code": "BAD_QUERY"}
            else:
                status, answer = list_events(provider, match.group(1), after, limit, agent)
        body = _encode(answer)
        headers.append((b"content-length", str(len(body)).encode()))
        await send(HTTPResponseStartEvent(type="http.response.start", status=status, headers=headers))
        await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))

    return asgi


_encode = msgspec.json.Encoder().encode


def task_out(task: Task) -> dict[str, Any]:
    return {"taskId": task.id, "externalId": task.external_id, "phone": task.phone, "status": task.status,
            "idempotencyKey": task.idempotency_key}


@post("/api/v1/tasks", status_code=201)
async def add_task(request: Req, provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    key = request.headers.get("idempotency-key") or None
    if key is not None and (first := provider.task_by_key(key)) is not None:
        return Response({"taskId": first.id, "status": first.status, "externalId": first.external_id},
                        status_code=200)
    phone = str(data.get("phone") or "").lstrip("+")
    if len(phone) != 11 or not phone.isdigit():
        return error(400, "BAD_PHONE")
    if phone in provider.faults.refuse_phones:
        return error(422, "NUMBER_BLOCKED")
    task = provider.new_task(str(data.get("externalId") or ""), phone, key)
    if provider.faults.task_answer_delay_seconds:  # created, but the answer is late: the caller times out
        await asyncio.sleep(provider.faults.task_answer_delay_seconds)
    return Response({"taskId": task.id, "status": task.status, "externalId": task.external_id}, status_code=201)


@get("/api/v1/tasks")
async def find_tasks(request: Req, provider: ProviderDep,
                     external_id: Annotated[str | None, QueryParameter(name="externalId")] = None) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    if external_id is None:
        return error(400, "EXTERNAL_ID_REQUIRED")
    return Response({"tasks": [task_out(t) for t in provider.tasks.values() if t.external_id == external_id]})


@get("/api/v1/tasks/{task_id:str}")
async def get_task(request: Req, provider: ProviderDep, task_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    task = provider.tasks.get(task_id)
    return error(404, "NO_SUCH_TASK") if task is None else Response(task_out(task))


@delete("/api/v1/tasks/{task_id:str}", status_code=200)
async def cancel_task(request: Req, provider: ProviderDep, task_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    task = provider.tasks.get(task_id)
    if task is None:
        return error(404, "NO_SUCH_TASK")
    if task.status in ("IN_PROGRESS", "DONE"):
        return error(409, "ALREADY_CALLED")
    task.status = "CANCELLED"
    return Response(None, status_code=204)


def call_out(call: Call) -> dict[str, Any]:
    out = {"callId": call.id, "status": "IN_PROGRESS" if call.ended_at is None else "ENDED",
           "sessionId": call.session.id, "taskId": call.task.id, "externalId": call.task.external_id,
           "startedAt": call.started_at}
    if call.ended_at is not None:
        out["endedAt"] = call.ended_at
    return out


@get("/api/v1/calls/{call_id:str}")
async def get_call(request: Req, provider: ProviderDep, call_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    call = provider.calls.get(call_id)
    return error(404, "NO_SUCH_CALL") if call is None else Response(call_out(call))


@delete("/api/v1/calls/{call_id:str}", status_code=200)
async def hang_up(request: Req, provider: ProviderDep, call_id: FromPath[str]) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    call = provider.calls.get(call_id)
    if call is None:
        return error(404, "NO_SUCH_CALL")
    provider.end_call(call)  # an ended call stays ended: 204 again, no second call.ended
    return Response(None, status_code=204)


@get("/api/v1/health")
async def health(request: Req, provider: ProviderDep) -> Response[Any]:
    if (fault := await _faulty(request, provider)) is not None:
        return fault
    return Response({"status": "OK"})


ROUTES = [open_session, close_session, set_status, add_task, find_tasks, get_task, cancel_task,
          get_call, hang_up, health]
