"""Admin HTTP API for users (operators of every role) and teams. Reading needs users.view (by default
supervisors and admins), changing users.manage (admins). Every change is audited in its own transaction."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from backend.auth.audit import actor_of
from backend.auth.guards import USERS_MANAGE, USERS_VIEW
from backend.auth.hooks import SessionHooks
from backend.auth.passwords import PasswordService
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX
from backend.operators import queries, service
from backend.operators.schemas import (
    CreateOperatorRequest,
    Deleted,
    DeletedResponse,
    EndedSessions,
    EndSessionsResponse,
    OperatorListResponse,
    OperatorOut,
    OperatorResponse,
    Role,
    SetPasswordRequest,
    TeamListResponse,
    TeamOut,
    TeamRequest,
    TeamResponse,
    UpdateOperatorRequest,
)

OperatorId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
TeamIdPath = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
NOT_FOUND = {404: "OPERATOR_NOT_FOUND: no such operator"}
LAST_ADMIN = "LAST_ADMIN: the last active admin cannot be locked or demoted"
TEAM_NOT_FOUND = {404: "TEAM_NOT_FOUND: no such team"}
NAME_TAKEN = {409: "TEAM_NAME_TAKEN: another team has this name (case-insensitively)"}


def _out(row: asyncpg.Record) -> OperatorOut:
    return OperatorOut(
        id=row["id"], login=row["login"], role=row["role"], locked=row["locked"], first_name=row["first_name"],
        last_name=row["last_name"], created_at=row["created_at"], updated_at=row["updated_at"],
        live_sessions=row.get("live_sessions"), team_id=row.get("team_id"), team_name=row.get("team_name"),
    )


def _team(row: asyncpg.Record) -> TeamOut:
    return TeamOut(id=row["id"], name=row["name"], members=int(row["members"]), created_at=row["created_at"])


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

    @get("/", guards=[USERS_VIEW], summary="List users with their team and live session counts; ?role= ?teamId=")
    async def list_operators(
        self, request: Request[Any, Any, Any],
        role: FromQuery[Role | None] = None,
        team_id: Annotated[int | None, QueryParameter(name="teamId", ge=1, le=BIGINT_MAX)] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 200,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> OperatorListResponse:
        rows = await queries.list_all(_pool(request), role=role, team_id=team_id, limit=limit, offset=offset)
        return OperatorListResponse([_out(r) for r in rows])

    @get("/{operator_id:int}", guards=[USERS_VIEW], summary="One user", responses=errors(NOT_FOUND))
    async def get_operator(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        return OperatorResponse(_out(await service.get(_pool(request), operator_id)))

    @post("/", guards=[USERS_MANAGE], status_code=201, summary="Create a user (operator, supervisor, analyst, admin)",
          responses=errors({404: "TEAM_NOT_FOUND: no such team (field teamId)",
                            409: "LOGIN_TAKEN: the login is taken (case-insensitively)"}))
    async def create_operator(self, request: Request[Any, Any, Any],
                              data: JSONBody[CreateOperatorRequest]) -> OperatorResponse:
        password_hash = await _passwords(request).hash(data.password)
        row = await service.create(_pool(request), login=data.login, password_hash=password_hash, role=data.role,
                                   first_name=data.first_name, last_name=data.last_name, team_id=data.team_id,
                                   actor=actor_of(request))
        return OperatorResponse(_out(row))

    @patch("/{operator_id:int}", guards=[USERS_MANAGE], status_code=200,
           summary="Edit a user's names, role or team (teamId null: no team); a new role ends their sessions",
           responses=errors({404: "OPERATOR_NOT_FOUND, or TEAM_NOT_FOUND (field teamId)",
                             409: f"CANNOT_CHANGE_OWN_ROLE, or {LAST_ADMIN}"}))
    async def update_operator(self, request: Request[Any, Any, Any], operator_id: OperatorId,
                              data: JSONBody[UpdateOperatorRequest]) -> OperatorResponse:
        fields = {name: value for name, value in msgspec.structs.asdict(data).items() if value is not msgspec.UNSET}
        if not fields:
            return OperatorResponse(_out(await service.get(_pool(request), operator_id)))
        row = await service.update(_pool(request), operator_id, fields, actor=actor_of(request), hooks=_hooks(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/lock", guards=[USERS_MANAGE], status_code=200,
          summary="Lock: refuses logins and ends every session at once",
          responses=errors({**NOT_FOUND,
                            409: f"CANNOT_LOCK_SELF: an admin cannot lock their own account; {LAST_ADMIN}"}))
    async def lock(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        row, _ = await service.set_locked(_pool(request), operator_id, True, _hooks(request), actor=actor_of(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/unlock", guards=[USERS_MANAGE], status_code=200, summary="Unlock",
          responses=errors(NOT_FOUND))
    async def unlock(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> OperatorResponse:
        row, _ = await service.set_locked(_pool(request), operator_id, False, actor=actor_of(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/password", guards=[USERS_MANAGE], status_code=200,
          summary="Reset the password; ends the user's sessions", responses=errors(NOT_FOUND))
    async def set_password(self, request: Request[Any, Any, Any], operator_id: OperatorId,
                           data: JSONBody[SetPasswordRequest]) -> OperatorResponse:
        password_hash = await _passwords(request).hash(data.password)
        row, _ = await service.set_password_hash(_pool(request), operator_id, password_hash, _hooks(request),
                                                 actor=actor_of(request))
        return OperatorResponse(_out(row))

    @post("/{operator_id:int}/end-sessions", guards=[USERS_MANAGE], status_code=200,
          summary="End all sessions of a user at once", responses=errors(NOT_FOUND))
    async def end_sessions(self, request: Request[Any, Any, Any], operator_id: OperatorId) -> EndSessionsResponse:
        ended, _ = await service.end_sessions(_pool(request), operator_id, _hooks(request), actor=actor_of(request))
        return EndSessionsResponse(EndedSessions(ended))


class TeamsController(Controller):
    path = "/api/admin/v1/teams"
    tags = ["admin"]

    @get("/", guards=[USERS_VIEW], summary="Teams by name, with their member counts")
    async def list_teams(self, request: Request[Any, Any, Any]) -> TeamListResponse:
        return TeamListResponse([_team(r) for r in await queries.list_teams(_pool(request))])

    @post("/", guards=[USERS_MANAGE], status_code=201, summary="Create a team", responses=errors(NAME_TAKEN))
    async def create_team(self, request: Request[Any, Any, Any], data: JSONBody[TeamRequest]) -> TeamResponse:
        return TeamResponse(_team(await service.create_team(_pool(request), data.name, actor=actor_of(request))))

    @patch("/{team_id:int}", guards=[USERS_MANAGE], status_code=200, summary="Rename a team",
           responses=errors({**TEAM_NOT_FOUND, **NAME_TAKEN}))
    async def rename_team(self, request: Request[Any, Any, Any], team_id: TeamIdPath,
                          data: JSONBody[TeamRequest]) -> TeamResponse:
        row = await service.rename_team(_pool(request), team_id, data.name, actor=actor_of(request))
        return TeamResponse(_team(row))

    @delete("/{team_id:int}", guards=[USERS_MANAGE], status_code=200,
            summary="Delete a team; its operators stay, without a team", responses=errors(TEAM_NOT_FOUND))
    async def delete_team(self, request: Request[Any, Any, Any], team_id: TeamIdPath) -> DeletedResponse:
        await service.delete_team(_pool(request), team_id, actor=actor_of(request))
        return DeletedResponse(Deleted(True))
