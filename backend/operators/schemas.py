"""Admin API wire formats for operator management."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from backend.core.types import Str

Role = Literal["operator", "supervisor", "analyst", "admin"]
Login = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$", max_length=64,
                                    description="Letters, digits and . _ @ -; case-insensitive")]
Password = Annotated[Str, msgspec.Meta(min_length=8, max_length=1024)]
Name = Annotated[Str, msgspec.Meta(min_length=1, max_length=32)]


class CreateOperatorRequest(msgspec.Struct, rename="camel"):
    login: Login
    password: Password
    first_name: Name
    last_name: Name
    role: Role = "operator"


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
