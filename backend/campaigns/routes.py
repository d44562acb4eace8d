"""Admin API: campaigns and clients entering them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody, Parameter

from backend.auth.guards import ADMIN
from backend.campaigns.schemas import ClientInfo
from backend.campaigns.service import enter_campaign
from backend.core.errors import Conflict
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


class CampaignIn(msgspec.Struct):
    name: Annotated[Str, msgspec.Meta(min_length=1, max_length=64)]
    description: Annotated[Str, msgspec.Meta(max_length=4096)] | None = None


class TaskIn(msgspec.Struct, rename="camel"):
    phone: Phone
    client_info: dict[str, Any] = msgspec.field(default_factory=dict)
    task_time: AwareDatetime | None = None

    def __post_init__(self) -> None:
        check_json(self.client_info, "clientInfo")
        check_shape(self.client_info, ClientInfo, "clientInfo")
        check_datetime(self.task_time, "taskTime")


class CampaignsController(Controller):
    path = "/api/admin/v1/campaigns"
    tags = ["admin"]
    guards = [ADMIN]

    @post("/", status_code=201, summary="Create a campaign")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[CampaignIn]) -> DataResponse:
        row = await request.app.state.pool.fetchrow(
            """INSERT INTO campaigns (name, description) VALUES ($1, $2)
               ON CONFLICT (name) DO NOTHING RETURNING id, name, description""", data.name, data.description)
        if row is None:
            raise Conflict("A campaign with this name exists", code="CAMPAIGN_EXISTS", field="name")
        return DataResponse(dict(row))

    @post("/{campaign_id:int}/tasks", status_code=201,
          summary="A client enters the campaign; an open task of the same client there is cancelled")
    async def add_task(self, request: Request[Any, Any, Any],
                       campaign_id: FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]],
                       data: JSONBody[TaskIn]) -> DataResponse:
        state = request.app.state
        task_id = await enter_campaign(state.pool, state.redis, state.settings, campaign_id=campaign_id,
                                       phone=data.phone, client_info=data.client_info, task_time=data.task_time)
        return DataResponse({"campaignTaskId": task_id})
