"""Control endpoints for tests and demos (``/_...``); documented in telephony/simulator/app.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Response, get, post
from litestar.params import FromQuery, JSONBody

from telephony.simulator.api import ProviderDep, call_out, error, task_out


@post("/_call", status_code=200)
async def place_call(provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> Response[Any]:
    """Ring operator `login` now (with a given or synthetic task), whatever the queue holds."""
    s = provider.session_of(str(data.get("login")))
    if s is None:
        return error(404, "NO_SESSION")
    if s.on_call:
        return error(409, "ON_CALL")
    task = provider.new_task(str(data.get("externalId") or ""), str(data.get("phone") or "79990000000"))
    talk = data.get("talkSeconds")
    call = provider.start_call(s, task, float(talk) if talk is not None else None)
    return Response({"callId": call.id, "taskId": task.id, "sessionId": s.id})


@post("/_event", status_code=200)
async def add_event(provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> Response[Any]:
    """Append ``raw`` as it is to the open session of ``login`` (or to ``sessionId``)."""
    if "raw" not in data:
        return error(400, "RAW_REQUIRED")
    if "sessionId" in data:
        s = provider.sessions.get(str(data["sessionId"]))
    else:
        s = provider.session_of(str(data.get("login")))
    if s is None:
        return error(404, "NO_SESSION")
    return Response({"sessionId": s.id, "event": provider.append_raw(s, data["raw"])})


@post("/_drop_end", status_code=200)
async def drop_end(provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> Response[Any]:
    """Lose the hang-up of ``callId``: its call.ended is never listed (the call still ends)."""
    call_id = str(data.get("callId") or "")
    if not call_id:
        return error(400, "CALL_ID_REQUIRED")
    call = provider.calls.get(call_id)
    if call is not None and call.ended_at is not None:
        return error(409, "ALREADY_ENDED")
    provider.faults.drop_end_of.add(call_id)
    return Response({"callId": call_id, "dropEndOf": sorted(provider.faults.drop_end_of)})


@post("/_config", status_code=200)
async def configure(provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
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
async def set_faults(provider: ProviderDep, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    f = provider.faults
    f.fail_next = int(data.get("failNext", f.fail_next))
    f.fail_rate = float(data.get("failRate", f.fail_rate))
    f.delay_seconds = float(data.get("delaySeconds", f.delay_seconds))
    f.duplicate_events = bool(data.get("duplicateEvents", f.duplicate_events))
    f.reorder_events = bool(data.get("reorderEvents", f.reorder_events))
    f.malformed_next = int(data.get("malformedNext", f.malformed_next))
    f.task_answer_delay_seconds = float(data.get("taskAnswerDelaySeconds", f.task_answer_delay_seconds))
    f.fail_paths = [str(p) for p in data.get("failPaths", f.fail_paths)]
    f.refuse_phones = [str(p) for p in data.get("refusePhones", f.refuse_phones)]
    f.throttle_paths = {str(k): float(v) for k, v in data.get("throttlePaths", f.throttle_paths).items()}
    f.delay_paths = {str(k): float(v) for k, v in data.get("delayPaths", f.delay_paths).items()}
    drop = data.get("dropEndOf")
    f.drop_end_of.update([drop] if isinstance(drop, str) else drop or [])
    if data.get("dropSessions"):
        provider.sessions.clear()
    return {"failNext": f.fail_next, "failRate": f.fail_rate, "delaySeconds": f.delay_seconds,
            "duplicateEvents": f.duplicate_events, "reorderEvents": f.reorder_events,
            "malformedNext": f.malformed_next, "dropEndOf": sorted(f.drop_end_of),
            "taskAnswerDelaySeconds": f.task_answer_delay_seconds, "failPaths": f.fail_paths,
            "refusePhones": f.refuse_phones, "throttlePaths": f.throttle_paths, "delayPaths": f.delay_paths}


@post("/_reset", status_code=200)
async def reset(provider: ProviderDep) -> dict[str, str]:
    provider.reset()
    return {"status": "OK", "epoch": provider.ids.epoch}


@get("/_requests")
async def received(provider: ProviderDep, path: FromQuery[str | None] = None) -> list[dict[str, Any]]:
    return [{"method": method, "path": p, "query": dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)),
             "body": body, "headers": {"Idempotency-Key": key} if key is not None else {}, "at": at, "agent": agent}
            for method, p, query, body, key, at, agent in list(provider.requests)
            if path is None or p.startswith(path)]


@get("/_polls")
async def polls(provider: ProviderDep) -> dict[str, list[dict[str, Any]]]:
    """Per operator login, the runs of event listings by one client: who polled it, how often, when."""
    return {login: [{"agent": a, "count": n, "first": first, "last": last} for a, n, first, last in runs]
            for login, runs in provider.polls.items()}


@get("/_state")
async def state(provider: ProviderDep) -> dict[str, Any]:
    return {
        "epoch": provider.ids.epoch,
        "sessions": [{"sessionId": s.id, "login": s.login, "status": s.status, "onCall": s.on_call,
                      "wrapUp": s.wrap_up, "events": len(s.events)} for s in provider.sessions.values()],
        "tasks": [task_out(t) for t in provider.tasks.values()],
        "calls": [call_out(c) for c in provider.calls.values()],
        "events": [e for s in provider.sessions.values() for e in s.events],
    }


ROUTES = [place_call, add_event, drop_end, configure, set_faults, reset, received, polls, state]
