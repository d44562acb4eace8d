"""Wire formats of role permissions and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Role = Literal["operator", "supervisor", "analyst", "admin"]
PermissionName = Annotated[str, msgspec.Meta(pattern=r"^[a-z]+\.[a-z]+$", max_length=64)]


class PermissionOut(msgspec.Struct):
    name: str
    description: str


class PermissionsData(msgspec.Struct, rename="camel"):
    """The catalogue, each role's permissions, and which (role, permission) pairs cannot be revoked."""

    catalogue: list[PermissionOut]
    roles: dict[str, list[str]]
    protected: dict[str, list[str]]


class PermissionsResponse(msgspec.Struct):
    data: PermissionsData
    status: str = "OK"


class SetPermissionsRequest(msgspec.Struct, forbid_unknown_fields=True):
    permissions: Annotated[list[PermissionName], msgspec.Meta(max_length=64)]


class AuditEntry(msgspec.Struct, rename="camel"):
    id: int
    actor_id: int | None
    actor_login: str | None
    action: str
    target_type: str
    target_id: str | None
    client_addr: str | None
    before: Any
    after: Any
    created_at: str


class AuditPage(msgspec.Struct, rename="camel"):
    items: list[AuditEntry]
    next_before_id: int | None


class AuditPageResponse(msgspec.Struct):
    data: AuditPage
    status: str = "OK"
