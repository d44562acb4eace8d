"""Admin API: campaigns and clients entering them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody, Parameter

from backend.auth.guards import ADMIN
from backend.campaigns.service import enter_campaign
from backend.core.errors import Conflict
from backend.core.types import DataResponse, Phone


class CampaignIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class TaskIn(msgspec.Struct, rename="camel"):
    phone: Phone
    client_info: dict[str, Any] = msgspec.field(default_factory=dict)
    task_time: datetime | None = None


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
                       campaign_id: FromPath[Annotated[int, Parameter(ge=1)]], data: JSONBody[TaskIn]) -> DataResponse:
        state = request.app.state
        task_id = await enter_campaign(state.pool, state.redis, state.settings, campaign_id=campaign_id,
                                       phone=data.phone, client_info=data.client_info, task_time=data.task_time)
        return DataResponse({"campaignTaskId": task_id})
