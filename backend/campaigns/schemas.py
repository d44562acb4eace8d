"""Wire formats of the campaign admin API's answers (its request bodies are in routes.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

TaskState = Literal["NEW", "IN_PROGRESS", "DONE"]


class TaskCounts(msgspec.Struct, rename={"new": "NEW", "in_progress": "IN_PROGRESS", "done": "DONE"}):
    new: int = 0
    in_progress: int = 0
    done: int = 0


class CampaignOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    tasks: TaskCounts | None = None  # in GET /{id} only


class CampaignResponse(msgspec.Struct):
    data: CampaignOut
    status: str = "OK"


class CampaignListResponse(msgspec.Struct):
    data: list[CampaignOut]
    status: str = "OK"


class TaskOut(msgspec.Struct, rename="camel"):
    id: int
    campaign_id: int
    phone: str
    client_info: dict[str, Any]
    task_time: datetime
    task_state: TaskState
    created_at: datetime
    updated_at: datetime


class TaskListResponse(msgspec.Struct):
    data: list[TaskOut]
    status: str = "OK"
