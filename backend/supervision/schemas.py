"""Wire formats of the supervisors' API and socket."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PauseReason = Literal["BREAK", "TRAINING", "TECHNICAL"]


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
