"""Admin HTTP API for operators: supervisors may read, admins may change."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from backend.auth.guards import ADMIN, SUPERVISOR
from backend.auth.hooks import SessionHooks
from backend.auth.passwords import PasswordService
from backend.auth.service import Principal
from backend.core.errors import Conflict
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX
from backend.operators import queries, service
from backend.operators.schemas import (
    CreateOperatorRequest,
    EndedSessions,
    EndSessionsResponse,
    OperatorListResponse,
    OperatorOut,
    OperatorResponse,
    Role,
    SetPasswordRequest,
)

OperatorId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
NOT_FOUND = {404: "OPERATOR_NOT_FOUND: no such operator"}


def _out(row: asyncpg.Record) -> OperatorOut:
    return OperatorOut(
        id=row["id"], login=row["login"], role=row["role"], locked=row["locked"], first_name=row["first_name"],
        last_name=row["last_name"], created_at=row["created_at"], updated_at=row["updated_at"],
        live_sessions=row.get("live_sessions"),
    )


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _hooks(request: Request[Any, Any, Any]) -> SessionHooks:
    hooks: SessionHooks = request.app.state.session_hooks
    return hooks


def _passwords(request: Request[Any, Any, Any]) -> PasswordService:
    passwords: PasswordService = request.app.state.passwords
    return passwords


class OperatorsController(Controller):
    path = "/api/admin/v1/operators"
    tags = ["admin"]

    @get("/", guards=[SUPERVISOR], summary="List operators with their live session counts")
    async def list_operators(
        self, request: Request[Any, Any, Any],
        role: FromQuery[Role | None] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 200,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> OperatorListResponse:
        rows = await queries.list_all(_pool(request), role=role, limit=limit, offset=offset)
        return OperatorListResponse([_out(r) for r in rows])

    @get("/{operator_id:int}", guards=[SUPERVISOR], summary="One operator", responses=errors(NOT_FOUND))
    async def get_operator(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        return OperatorResponse(_out(await service.get(_pool(request), operator_id)))

    @post("/", guards=[ADMIN], status_code=201, summary="Create an operator, supervisor or admin",
          responses=errors({409: "LOGIN_TAKEN: the login is taken (case-insensitively)"}))
    async def create_operator(self, request: Request[Any, Any, Any],
                              data: JSONBody[CreateOperatorRequest]) -> OperatorResponse:
        password_hash = await _passwords(request).hash(data.password)
        row = await service.create(_pool(request), login=data.login, password_hash=password_hash, role=data.role,
                                   first_name=data.first_name, last_name=data.last_name)
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/lock", guards=[ADMIN], status_code=200,
          summary="Lock: refuses logins and ends every session at once",
          responses=errors({**NOT_FOUND, 409: "CANNOT_LOCK_SELF: an admin cannot lock their own account"}))
    async def lock(self, request: Request[Principal, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        if operator_id == request.user.operator_id:
            raise Conflict("You cannot lock your own account", code="CANNOT_LOCK_SELF", field="operatorId")
        row, _ = await service.set_locked(_pool(request), operator_id, True, _hooks(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/unlock", guards=[ADMIN], status_code=200, summary="Unlock", responses=errors(NOT_FOUND))
    async def unlock(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        row, _ = await service.set_locked(_pool(request), operator_id, False)
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/password", guards=[ADMIN], status_code=200,
          summary="Set a new password; ends the operator's sessions", responses=errors(NOT_FOUND))
    async def set_password(self, request: Request[Any, Any, Any], operator_id: OperatorId,
                           data: JSONBody[SetPasswordRequest]) -> OperatorResponse:
        password_hash = await _passwords(request).hash(data.password)
        row, _ = await service.set_password_hash(_pool(request), operator_id, password_hash, _hooks(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/end-sessions", guards=[ADMIN], status_code=200,
          summary="End all sessions of an operator at once", responses=errors(NOT_FOUND))
    async def end_sessions(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> EndSessionsResponse:
        ended = await service.end_sessions(_pool(request), operator_id, _hooks(request))
        return EndSessionsResponse(EndedSessions(ended))
