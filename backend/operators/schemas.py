"""Admin API wire formats for operator management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from backend.core.types import BIGINT_MAX, Str

Role = Literal["operator", "supervisor", "analyst", "admin"]
Login = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$", max_length=64,
                                    description="Letters, digits and . _ @ -; case-insensitive")]
Password = Annotated[Str, msgspec.Meta(min_length=8, max_length=1024)]
Name = Annotated[Str, msgspec.Meta(min_length=1, max_length=32)]


TeamName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$",
                                       description="Any text with a visible character, no NUL")]
TeamId = Annotated[int, msgspec.Meta(ge=1, le=BIGINT_MAX)]


class CreateOperatorRequest(msgspec.Struct, rename="camel"):
    login: Login
    password: Password
    first_name: Name
    last_name: Name
    role: Role = "operator"
    team_id: TeamId | None = None


class UpdateOperatorRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Only the fields sent change; ``teamId: null`` takes the operator out of their team."""

    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    team_id: TeamId | msgspec.UnsetType | None = msgspec.UNSET


class SetPasswordRequest(msgspec.Struct):
    password: Password


class OperatorOut(msgspec.Struct, rename="camel"):
    id: int
    login: str
    role: str
    locked: bool
    first_name: str
    last_name: str
    created_at: datetime
    updated_at: datetime
    live_sessions: int | None = None
    team_id: int | None = None
    team_name: str | None = None


class OperatorResponse(msgspec.Struct):
    data: OperatorOut
    status: str = "OK"


class OperatorListResponse(msgspec.Struct):
    data: list[OperatorOut]
    status: str = "OK"


class EndedSessions(msgspec.Struct, rename="camel"):
    ended_sessions: int


class EndSessionsResponse(msgspec.Struct):
    data: EndedSessions
    status: str = "OK"


class TeamRequest(msgspec.Struct):
    name: TeamName


class TeamOut(msgspec.Struct, rename="camel"):
    id: int
    name: str
    members: int
    created_at: datetime


class TeamResponse(msgspec.Struct):
    data: TeamOut
    status: str = "OK"


class TeamListResponse(msgspec.Struct):
    data: list[TeamOut]
    status: str = "OK"


class Deleted(msgspec.Struct):
    deleted: bool


class DeletedResponse(msgspec.Struct):
    data: Deleted
    status: str = "OK"
