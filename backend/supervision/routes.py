"""The supervisors' REST API: the floor as a snapshot (the same data the socket pushes, for tools that do not
speak WebSocket), the actions on an operator, and their audit. Supervisors and admins only."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from backend.auth.audit import actor_of
from backend.auth.guards import FLOOR_CONTROL, FLOOR_VIEW
from backend.auth.service import Principal
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX
from backend.supervision import queries
from backend.supervision.control import Supervision
from backend.supervision.feed import SupervisorFeed
from backend.supervision.schemas import (
    ActionData,
    ActionResponse,
    AuditEntry,
    AuditResponse,
    FloorData,
    FloorResponse,
    PauseOperatorRequest,
)

OperatorId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
_ACTION_ERRORS = {404: "OPERATOR_NOT_FOUND: no such operator (field operatorId)",
                  409: "OPERATOR_OFFLINE: the operator is not logged in (field operatorId)"}


def _supervision(request: Request[Any, Any, Any]) -> Supervision:
    supervision: Supervision = request.app.state.supervision
    return supervision


def _action(result: dict[str, Any]) -> ActionResponse:
    return ActionResponse(ActionData(result["auditId"], result["operatorId"], result["before"], result["after"]))


class SupervisionController(Controller):
    path = "/api/supervisor/v1"
    tags = ["supervisor"]

    @get("/floor", guards=[FLOOR_VIEW],
         summary="The live floor: operators, campaign tiles, alerts, calls and screen-pop per minute, "
                 "as of lastSeq (the supervisor socket's seq)")
    async def floor(self, request: Request[Any, Any, Any]) -> FloorResponse:
        feed: SupervisorFeed = request.app.state.floor_feed
        snap = feed.snapshot()
        return FloorResponse(FloorData(snap["lastSeq"], snap["serverTimeMs"], snap["floor"]))

    @post("/operators/{operator_id:int}/pause", guards=[FLOOR_CONTROL], status_code=200,
          responses=errors(_ACTION_ERRORS),
          summary="Pause an operator with a reason (during a call: from its end); audited")
    async def pause(self, request: Request[Principal, Any, Any], operator_id: OperatorId,
                    data: JSONBody[PauseOperatorRequest]) -> ActionResponse:
        return _action(await _supervision(request).pause(actor_of(request), operator_id, data.reason))

    @post("/operators/{operator_id:int}/unpause", guards=[FLOOR_CONTROL], status_code=200,
          responses=errors(_ACTION_ERRORS),
          summary="Make a paused or away operator READY (during a call: cancel a requested pause); audited")
    async def unpause(self, request: Request[Principal, Any, Any], operator_id: OperatorId) -> ActionResponse:
        return _action(await _supervision(request).unpause(actor_of(request), operator_id))

    @post("/operators/{operator_id:int}/endSessions", guards=[FLOOR_CONTROL], status_code=200,
          responses=errors({404: "OPERATOR_NOT_FOUND: no such operator (field operatorId)"}),
          summary="End every session of an operator (an open call goes to rework, telephony closes); audited")
    async def end_sessions(self, request: Request[Principal, Any, Any], operator_id: OperatorId) -> ActionResponse:
        return _action(await _supervision(request).end_sessions(actor_of(request), operator_id))

    @get("/audit", guards=[FLOOR_CONTROL], summary="What supervisors did to operators, newest first")
    async def audit(self, request: Request[Any, Any, Any],
                    operator_id: Annotated[int | None, QueryParameter(name="operatorId", ge=1, le=BIGINT_MAX)] = None,
                    limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 100) -> AuditResponse:
        rows = await queries.audit_page(request.app.state.pool, operator_id, limit)
        return AuditResponse([AuditEntry(
            r["id"], r["actor_id"], r["actor_login"], r["action"], r["target_id"], r["client_addr"],
            r["before"], r["after"], r["created_at"].isoformat()) for r in rows])
