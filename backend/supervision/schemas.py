"""Wire formats of the supervisors' API and socket."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from backend.core.types import Str

PauseReason = Literal["BREAK", "TRAINING", "TECHNICAL"]


class Hello(msgspec.Struct, rename="camel"):
    """First message on the supervisor socket, as on the operator's: the token travels here, never in a URL."""

    type: str
    token: Annotated[Str, msgspec.Meta(min_length=1, max_length=2048)]
    last_seq: Annotated[int, msgspec.Meta(ge=0)] | None = None


class PauseOperatorRequest(msgspec.Struct):
    reason: PauseReason


class FloorData(msgspec.Struct, rename="camel"):
    last_seq: int
    server_time_ms: int
    floor: dict[str, Any]


class FloorResponse(msgspec.Struct):
    data: FloorData


class ActionData(msgspec.Struct, rename="camel"):
    audit_id: int
    operator_id: int
    before: dict[str, Any]
    after: dict[str, Any]


class ActionResponse(msgspec.Struct):
    data: ActionData


class AuditEntry(msgspec.Struct, rename="camel"):
    id: int
    actor_id: int
    actor_login: str
    action: str
    operator_id: int
    client_addr: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    at: str


class AuditResponse(msgspec.Struct):
    data: list[AuditEntry]
