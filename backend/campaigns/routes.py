"""Admin API: campaigns and clients entering them (supervisors and admins read, admins change)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from backend.auth.audit import actor_of
from backend.auth.guards import CAMPAIGNS_MANAGE, CAMPAIGNS_VIEW
from backend.campaigns import queries
from backend.campaigns.schemas import (
    CampaignListResponse,
    CampaignOut,
    CampaignResponse,
    ClientInfo,
    TaskCounts,
    TaskListResponse,
    TaskOut,
    TaskState,
)
from backend.campaigns.service import enter_campaign
from backend.core.errors import Conflict, NotFound
from backend.core.openapi import errors
from backend.core.types import (
    BIGINT_MAX,
    AwareDatetime,
    DataResponse,
    Phone,
    Str,
    check_datetime,
    check_json,
    check_shape,
)

CampaignName = Annotated[Str, msgspec.Meta(min_length=1, max_length=64)]
CampaignDescription = Annotated[Str, msgspec.Meta(max_length=4096)]
CampaignId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
NOT_FOUND = {404: "CAMPAIGN_NOT_FOUND: no such campaign"}
NAME_TAKEN = {409: "CAMPAIGN_EXISTS: another campaign has this name (field name)"}


class CampaignIn(msgspec.Struct):
    name: CampaignName
    description: CampaignDescription | None = None


class CampaignPatch(msgspec.Struct):
    """Only the fields present change; "description": null clears it."""

    name: CampaignName | msgspec.UnsetType = msgspec.UNSET
    description: CampaignDescription | msgspec.UnsetType | None = msgspec.UNSET


class TaskIn(msgspec.Struct, rename="camel"):
    phone: Phone
    client_info: dict[str, Any] = msgspec.field(default_factory=dict)
    task_time: AwareDatetime | None = None

    def __post_init__(self) -> None:
        check_json(self.client_info, "clientInfo")
        check_shape(self.client_info, ClientInfo, "clientInfo")
        check_datetime(self.task_time, "taskTime")


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _campaign(row: asyncpg.Record, counts: dict[str, int] | None = None) -> CampaignOut:
    return CampaignOut(id=row["id"], name=row["name"], description=row["description"],
                       created_at=row["created_at"], updated_at=row["updated_at"],
                       tasks=msgspec.convert(counts, TaskCounts) if counts is not None else None)


def _task(row: asyncpg.Record) -> TaskOut:
    return TaskOut(id=row["id"], campaign_id=row["campaign_id"], phone=row["phone"], client_info=row["client_info"],
                   task_time=row["task_time"], task_state=row["task_state"], created_at=row["created_at"],
                   updated_at=row["updated_at"])


class CampaignsController(Controller):
    path = "/api/admin/v1/campaigns"
    tags = ["admin"]

    @get("/", guards=[CAMPAIGNS_VIEW], summary="List campaigns, by id, a page at a time")
    async def list_campaigns(
        self, request: Request[Any, Any, Any],
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 200,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> CampaignListResponse:
        rows = await queries.list_page(_pool(request), limit=limit, offset=offset)
        return CampaignListResponse([_campaign(r) for r in rows])

    @post("/", guards=[CAMPAIGNS_MANAGE], status_code=201, summary="Create a campaign", responses=errors(NAME_TAKEN))
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[CampaignIn]) -> CampaignResponse:
        actor = actor_of(request)
        async with _pool(request).acquire() as conn, conn.transaction():
            row = await queries.insert(conn, data.name, data.description)
            if row is None:
                raise Conflict("A campaign with this name exists", code="CAMPAIGN_EXISTS", field="name")
            await actor.record(conn, "campaign.create", "campaign", row["id"], None, row)
        return CampaignResponse(_campaign(row))

    @get("/{campaign_id:int}", guards=[CAMPAIGNS_VIEW], summary="One campaign, with its tasks counted by state",
         responses=errors(NOT_FOUND))
    async def get_campaign(self, request: Request[Any, Any, Any], campaign_id: CampaignId) -> CampaignResponse:
        pool = _pool(request)
        row = await queries.get(pool, campaign_id)
        if row is None:
            raise NotFound("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")
        return CampaignResponse(_campaign(row, await queries.task_counts(pool, campaign_id)))

    @patch("/{campaign_id:int}", guards=[CAMPAIGNS_MANAGE], summary="Rename a campaign or change its description",
           responses=errors({**NOT_FOUND, **NAME_TAKEN}))
    async def update_campaign(self, request: Request[Any, Any, Any], campaign_id: CampaignId,
                              data: JSONBody[CampaignPatch]) -> CampaignResponse:
        name = None if data.name is msgspec.UNSET else data.name
        description = None if data.description is msgspec.UNSET else data.description
        actor = actor_of(request)
        async with _pool(request).acquire() as conn, conn.transaction():
            before = await queries.get(conn, campaign_id)
            try:
                async with conn.transaction():
                    row = await queries.update(conn, campaign_id, name=name,
                                               set_description=data.description is not msgspec.UNSET,
                                               description=description)
            except asyncpg.UniqueViolationError:
                raise Conflict("A campaign with this name exists", code="CAMPAIGN_EXISTS", field="name") from None
            if row is None:
                raise NotFound("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")
            await actor.record(conn, "campaign.update", "campaign", campaign_id, before, row)
        return CampaignResponse(_campaign(row))

    @get("/{campaign_id:int}/tasks", guards=[CAMPAIGNS_VIEW], responses=errors(NOT_FOUND),
         summary="A campaign's tasks (clients to call), by id, a page at a time; ?state= filters")
    async def list_tasks(
        self, request: Request[Any, Any, Any], campaign_id: CampaignId,
        task_state: Annotated[TaskState | None, QueryParameter(name="state")] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 100,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> TaskListResponse:
        pool = _pool(request)
        rows = await queries.list_tasks(pool, campaign_id, state=task_state, limit=limit, offset=offset)
        if not rows and await queries.get(pool, campaign_id) is None:
            raise NotFound("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")
        return TaskListResponse([_task(r) for r in rows])

    @post("/{campaign_id:int}/tasks", guards=[CAMPAIGNS_MANAGE], status_code=201, responses=errors(NOT_FOUND),
          summary="A client enters the campaign; an open task of the same client there is cancelled")
    async def add_task(self, request: Request[Any, Any, Any], campaign_id: CampaignId,
                       data: JSONBody[TaskIn]) -> DataResponse:
        state = request.app.state
        task_id = await enter_campaign(state.pool, state.redis, state.settings, campaign_id=campaign_id,
                                       phone=data.phone, client_info=data.client_info, task_time=data.task_time)
        return DataResponse({"campaignTaskId": task_id})
