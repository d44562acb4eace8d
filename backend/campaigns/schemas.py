"""Wire formats of the campaign domain: the client fields checked on entry, and the admin API's answers
(its request bodies are in routes.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from backend.core.types import Str

Short = Annotated[Str, msgspec.Meta(max_length=256)]


class FullName(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    name: Short | None = None
    last_name: Short | None = None
    middle_name: Short | None = None


class ClientInfo(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """The client fields the card reads (seed 001 appendix Е). A lead may carry more fields — they are kept
    as sent — but these must have this shape: a name given as a string where an object is expected is a
    400 naming the field, never silently dropped from the card."""

    full_name_ru: FullName | None = None
    full_name_en: FullName | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    middle_name: Short | None = None
    first_name_en: Short | None = None
    last_name_en: Short | None = None
    middle_name_en: Short | None = None
    citizenship: Short | None = None
    birth_date: Annotated[str, msgspec.Meta(pattern=r"^(\d{2}\.\d{2}\.\d{4}|\d{4}-\d{2}-\d{2})$",
                                            description="dd.MM.yyyy or yyyy-MM-dd")] | None = None
    do_id: Short | None = None
    application_id: Short | None = None


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
