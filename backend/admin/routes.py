"""Admin HTTP API: role permissions (permissions.manage) and the audit log (audit.view): a filtered page,
newest first, and the whole selection as a streamed CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, put
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter
from litestar.response import Stream

from backend.admin import queries, service
from backend.admin.schemas import (
    AuditEntry,
    AuditPage,
    AuditPageResponse,
    PermissionOut,
    PermissionsData,
    PermissionsResponse,
    Role,
    SetPermissionsRequest,
)
from backend.auth.audit import actor_of
from backend.auth.guards import AUDIT_VIEW, PERMISSIONS_MANAGE
from backend.auth.permissions import CATALOGUE, PROTECTED, ROLES, Permissions
from backend.core.csvstream import BOM, CsvChunks
from backend.core.errors import BadRequest
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX, AwareDatetime, Str, check_datetime

_csv_text = msgspec.json.Encoder()


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _permissions(request: Request[Any, Any, Any]) -> Permissions:
    permissions: Permissions = request.app.state.permissions
    return permissions


async def _data(request: Request[Any, Any, Any]) -> PermissionsData:
    grants = await _permissions(request).grants()
    return PermissionsData(
        catalogue=[PermissionOut(name, text) for name, text in CATALOGUE.items()],
        roles={role: sorted(grants.get(role, frozenset())) for role in ROLES},
        protected={role: sorted(p for r, p in PROTECTED if r == role) for role in ROLES},
    )


class PermissionsController(Controller):
    path = "/api/admin/v1/permissions"
    tags = ["admin"]

    @get("/", guards=[PERMISSIONS_MANAGE], summary="The permission catalogue and each role's permissions")
    async def matrix(self, request: Request[Any, Any, Any]) -> PermissionsResponse:
        return PermissionsResponse(await _data(request))

    @put("/{role:str}", guards=[PERMISSIONS_MANAGE], status_code=200,
         summary="Set a role's permissions (the whole list); in force on every web process at the next request",
         responses=errors({400: "UNKNOWN_PERMISSION: not in the catalogue (data.unknown)",
                           409: "PERMISSION_PROTECTED: the admin role always keeps permissions.manage and "
                                "users.manage (data.protected)"}))
    async def set_role(self, request: Request[Any, Any, Any], role: FromPath[Role],
                       data: JSONBody[SetPermissionsRequest]) -> PermissionsResponse:
        await service.set_role_permissions(_pool(request), _permissions(request), role, data.permissions,
                                           actor_of(request))
        return PermissionsResponse(await _data(request))


def _moment(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = msgspec.convert(value, AwareDatetime)
        check_datetime(moment, field)
    except (msgspec.ValidationError, ValueError):
        raise BadRequest("Must be an ISO 8601 time with a zone, e.g. 2026-06-01T00:00:00+03:00",
                         field=field) from None
    return moment


Word = Annotated[Str | None, Parameter(max_length=64)]


def _filter(actor_id: int | None, action: str | None, target_type: str | None, target_id: str | None,
            since: str | None, until: str | None) -> queries.AuditFilter:
    return queries.AuditFilter(actor_id, action, target_type, target_id, _moment(since, "from"),
                               _moment(until, "to"))


def _entry(r: asyncpg.Record) -> AuditEntry:
    return AuditEntry(r["id"], r["actor_id"], r["actor_login"], r["action"], r["target_type"], r["target_id"],
                      r["client_addr"], r["before"], r["after"], r["created_at"].isoformat())


_BAD_TIME = errors({400: "VALIDATION_ERROR: from/to are not ISO 8601 times with a zone (field from or to)"})
CSV_COLUMNS = ["id", "created_at", "actor_id", "actor_login", "action", "target_type", "target_id",
               "client_addr", "before", "after"]


class AuditController(Controller):
    path = "/api/admin/v1/audit"
    tags = ["admin"]
    guards = [AUDIT_VIEW]

    @get("/", responses=_BAD_TIME,
         summary="The audit log, newest first; filters actorId, action, targetType, targetId, from, to (ISO times, "
                 "to exclusive); the next page: beforeId = nextBeforeId")
    async def page(
        self, request: Request[Any, Any, Any],
        actor_id: Annotated[int | None, QueryParameter(name="actorId", ge=1, le=BIGINT_MAX)] = None,
        action: FromQuery[Word] = None,
        target_type: Annotated[Str | None, QueryParameter(name="targetType", max_length=64)] = None,
        target_id: Annotated[Str | None, QueryParameter(name="targetId", max_length=128)] = None,
        since: Annotated[Str | None, QueryParameter(name="from", max_length=64)] = None,
        until: Annotated[Str | None, QueryParameter(name="to", max_length=64)] = None,
        before_id: Annotated[int | None, QueryParameter(name="beforeId", ge=1, le=BIGINT_MAX)] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=500)]] = 50,
    ) -> AuditPageResponse:
        flt = _filter(actor_id, action, target_type, target_id, since, until)
        rows = await queries.audit_page(_pool(request), flt, before_id=before_id, limit=limit)
        items = [_entry(r) for r in rows]
        return AuditPageResponse(AuditPage(items, items[-1].id if len(items) == limit else None))

    @get("/export.csv", media_type="text/csv", responses=_BAD_TIME,
         summary="The filtered audit log as CSV (UTF-8 with BOM, ';' by default or sep=comma), oldest first, "
                 "streamed from a server-side cursor")
    async def export(
        self, request: Request[Any, Any, Any],
        actor_id: Annotated[int | None, QueryParameter(name="actorId", ge=1, le=BIGINT_MAX)] = None,
        action: FromQuery[Word] = None,
        target_type: Annotated[Str | None, QueryParameter(name="targetType", max_length=64)] = None,
        target_id: Annotated[Str | None, QueryParameter(name="targetId", max_length=128)] = None,
        since: Annotated[Str | None, QueryParameter(name="from", max_length=64)] = None,
        until: Annotated[Str | None, QueryParameter(name="to", max_length=64)] = None,
        sep: Annotated[str, QueryParameter(pattern="^(semicolon|comma)$")] = "semicolon",
    ) -> Stream:
        flt = _filter(actor_id, action, target_type, target_id, since, until)
        pool = _pool(request)
        delimiter = ";" if sep == "semicolon" else ","

        async def rows() -> AsyncIterator[bytes]:
            writer = CsvChunks(delimiter)
            writer.row(CSV_COLUMNS)
            yield BOM.encode() + writer.take()
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                async for r in queries.audit_stream(conn, flt):
                    writer.row([r["id"], r["created_at"].isoformat(), r["actor_id"], r["actor_login"], r["action"],
                                r["target_type"], r["target_id"], r["client_addr"], _json(r["before"]),
                                _json(r["after"])])
                    if writer.full():
                        yield writer.take()
                yield writer.take()

        return Stream(rows(), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


def _json(value: Any) -> str:
    return "" if value is None else _csv_text.encode(value).decode()
