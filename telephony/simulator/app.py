"""A MightyCall-like cloud telephony provider, simulated over real HTTP.

Provider API (what the adapter uses):
  POST   /api/v1/sessions                 {"login","password","status"?:"READY"|"BUSY"} -> 201 {"sessionId",
                                          "idleTimeoutSeconds"}; a new session opens in status (READY if none)
         with header Idempotency-Key: K   while the session K opened is open -> 200 with that session
  DELETE /api/v1/sessions/{id}            -> 204
  PUT    /api/v1/sessions/{id}/status     {"status":"READY"|"BUSY"} -> 204
  GET    /api/v1/sessions/{id}/events?after=N&limit=M -> {"events":[...],"next":N}
                                          401 {"code":"SESSION_EXPIRED"} once idle past the limit or dropped
  POST   /api/v1/tasks                    {"externalId","phone"} -> 201 {"taskId","status":"NEW","externalId"}
         with header Idempotency-Key: K   a K already seen -> 200 with the FIRST task {"taskId","status",
                                          "externalId"} (its current status, whatever the body), nothing created
  GET    /api/v1/tasks?externalId=X       -> {"tasks":[{"taskId","externalId","phone","status","idempotencyKey"}]}
                                          (oldest first; 400 EXTERNAL_ID_REQUIRED without it)
  GET    /api/v1/tasks/{id}               -> {"taskId","externalId","phone","status","idempotencyKey"}
  DELETE /api/v1/tasks/{id}               -> 204 (409 once the call happened)
  GET    /api/v1/calls/{id}               -> {"callId","status":"IN_PROGRESS"|"ENDED","endedAt"?,"startedAt",
                                              "sessionId","taskId","externalId"} (404 NO_SUCH_CALL)
  DELETE /api/v1/calls/{id}               -> 204: hangs up a live call now (call.ended unless dropped); an ended
                                          call stays ended (204, no second event)
  GET    /api/v1/health                   -> {"status":"OK"}
A status is NEW, IN_PROGRESS, DONE or CANCELLED; errors are {"code"}; any of these may answer 503 under faults.
An event: {"id":int,"type":"call.started"|"call.ended","sessionId","callId","taskId","externalId",
           "to":"+7XXXXXXXXXX","at":"ISO-8601"}.

Ids are unique across simulator starts, as a real provider's are. Each start (and each POST /_reset) has an
epoch, a short token (the start second in base 36 and 16 random bits, e.g. "t1x2k9a3f0"), in every session,
call and task id: "s-<epoch>-1", "call-<epoch>-7", "t-<epoch>-3". Event ids are integers counted up from the
start's wall-clock millisecond x 1000 (about 1.7e15, below 2**53): strictly increasing within a start, above
every earlier start's (a reset continues above the last id; a restart cannot collide unless a start averaged
over 1000 events a millisecond). A session lists only its last 1,000 events; the request log is a ring buffer
of the last 10,000 requests (SIM_REQUEST_LOG, Config.max_requests); the oldest finished tasks and ended calls
beyond 50,000 are forgotten (with their keys).

Control endpoints (tests and demos):
  POST /_call   {"login","phone"?,"externalId"?,"talkSeconds"?} -> {"callId","taskId","sessionId"}; rings the
                operator now (404 NO_SESSION, 409 ON_CALL)
  POST /_event  {"login"|"sessionId","raw":<any JSON>} -> {"sessionId","event"}: appends raw to that session's
                events as given (an object without "id" gets the next event id), for garbage tests
  POST /_drop_end {"callId"} -> {"callId","dropEndOf"}: that call's call.ended is never listed, a lost
                hang-up (the call still ends: GET /api/v1/calls shows ENDED); 409 ALREADY_ENDED
  POST /_config {"talkSeconds":[lo,hi]|s,"wrapUpFallbackSeconds","sessionIdleSeconds","dialIntervalSeconds",
                "autoDial"}
  POST /_faults {"failNext":N,"failRate":p,"delaySeconds":s,"duplicateEvents":b,"reorderEvents":b,
                "malformedNext":N,"dropEndOf":callId|[callId],"dropSessions":true,
                "taskAnswerDelaySeconds":s,"failPaths":[path],"refusePhones":[phone],
                "throttlePaths":{suffix:s},"delayPaths":{suffix:s}} -> the faults now.
                throttlePaths: requests to paths ending so answer 429 {"code":"TOO_MANY_REQUESTS"} with
                Retry-After: s (a provider's rate limit); delayPaths: those requests wait s seconds first.
                failPaths: requests to exactly these paths answer 503. refusePhones: POST /api/v1/tasks
                for these numbers answers 422 NUMBER_BLOCKED (a final refusal). taskAnswerDelaySeconds:
                POST /api/v1/tasks creates the task at once but answers that late (the caller times out).
                malformedNext: each of the next N event listings (GET .../events on an open session) first
                appends to the session an event that does not parse, {"id":<next id>,"type":"call.transferred",
                "sessionId","callId","at"} (unknown type, no task fields); its id advances the cursor.
  POST /_reset  -> {"status":"OK","epoch"}: forgets everything, default config and faults, a new epoch
  GET  /_requests?path=P -> provider API requests received, oldest first: {"method","path","query","body",
                "headers":{"Idempotency-Key"?},"at","agent"} (agent: the User-Agent, which client sent it)
  GET  /_polls  -> {login: [{"agent","count","first","last"}]}: per operator, the runs of event listings by
                one client, oldest first (the last 200): one process polling an operator is one run, a
                hand-over starts the next, and two polling it at once alternate
  GET  /_state  -> {"epoch","sessions","tasks","calls","events"}

The dialer hands queued tasks, oldest first, to free operators: a session that is open, reported READY
(the default until the adapter reports otherwise), not on a call, and not in after-call work. After a
hang-up the operator stays busy until the adapter reports READY (the backend's result window), or for
``wrapUpFallbackSeconds`` if nothing is reported. Sessions idle past the limit are closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import Receive, Scope, Send

from telephony.simulator import api, control
from telephony.simulator.model import Config
from telephony.simulator.state import Provider

__all__ = ["Config", "Provider", "Simulator", "create_simulator"]


class Simulator:
    """The simulator's ASGI app: the event listing's fast path (``api.events_fast_path``) in front of the
    Litestar app, whose ``state.provider`` is this simulator's provider."""

    def __init__(self, app: Litestar, provider: Provider) -> None:
        self.litestar = app
        self.state = app.state
        self._asgi = api.events_fast_path(app, provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)


def create_simulator(config: Config | None = None) -> Simulator:
    """An app with a provider of its own (``app.state.provider``), beginning a new epoch."""
    provider = Provider(config)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        dialer = asyncio.create_task(provider.dial_forever())
        try:
            yield
        finally:
            dialer.cancel()

    app = Litestar(
        route_handlers=[*api.ROUTES, *control.ROUTES],
        dependencies={"provider": Provide(api.provider_of, sync_to_thread=False)},
        state=State({"provider": provider}),
        lifespan=[lifespan], openapi_config=None,
    )
    return Simulator(app, provider)
