"""Wire formats of the campaign-rules admin API (the rules themselves are config.RulesConfig). Phones travel
in bodies, never in URLs (they are personal data and URLs end up in logs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from backend.core.types import AwareDatetime, Id, Phone, Str, check_datetime

Reason = Annotated[Str, msgspec.Meta(min_length=1, max_length=500)]


class DncIn(msgspec.Struct, rename="camel"):
    """until absent or null: permanent."""

    phone: Phone
    reason: Reason
    until: AwareDatetime | None = None
    source: Annotated[str, msgspec.Meta(pattern=r"^[A-Z][A-Z0-9_]{0,31}$")] = "ADMIN"

    def __post_init__(self) -> None:
        check_datetime(self.until, "until")


class PhoneIn(msgspec.Struct):
    phone: Phone


class DncCsvIn(msgspec.Struct):
    """The file's text: lines ``phone,until,reason`` (header optional; until empty = permanent)."""

    csv: Annotated[Str, msgspec.Meta(min_length=1, max_length=64 * 1024 * 1024)]


class BookingIn(msgspec.Struct, rename="camel"):
    phone: Phone
    campaign_id: Id
    until: AwareDatetime
    reason: Reason | None = None

    def __post_init__(self) -> None:
        check_datetime(self.until, "until")


class DncOut(msgspec.Struct, rename="camel"):
    phone: str
    until: datetime | None
    permanent: bool
    reason: str
    source: str
    created_at: datetime
    updated_at: datetime


class BookingOut(msgspec.Struct, rename="camel"):
    phone: str
    campaign_id: int
    until: datetime
    reason: str | None
    created_at: datetime
    updated_at: datetime


class VersionOut(msgspec.Struct, rename="camel"):
    id: int
    campaign_id: int
    version: int
    created_at: datetime
    created_by: int | None
    config: dict[str, Any]


PathOutcome = Literal["PASSED", "REJECTED", "ERROR"]


def dnc_out(row: Any) -> DncOut:
    return DncOut(phone=row["phone"], until=row["until"], permanent=row["until"] is None, reason=row["reason"],
                  source=row["source"], created_at=row["created_at"], updated_at=row["updated_at"])


def booking_out(row: Any) -> BookingOut:
    return BookingOut(phone=row["phone"], campaign_id=row["campaign_id"], until=row["until"], reason=row["reason"],
                      created_at=row["created_at"], updated_at=row["updated_at"])


def version_out(row: Any) -> VersionOut:
    return VersionOut(id=row["id"], campaign_id=row["campaign_id"], version=row["version"],
                      created_at=row["created_at"], created_by=row["created_by"], config=row["config"])
