"""The values the integration checks speak in (re-exported by ``api``, where the cascade imports them)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import msgspec

CheckOutcome = Literal["PASS", "REJECT", "ERROR"]
MlModel = Literal["DEVICE", "PHONE", "FACE", "DOCUMENT"]
ML_MODELS: tuple[MlModel, ...] = ("DEVICE", "PHONE", "FACE", "DOCUMENT")


class IntegrationLead(msgspec.Struct, frozen=True):
    """What the services are asked about one lead (from lead_snapshots)."""

    application_no: int
    phone: str  # 7XXXXXXXXXX
    client_type: str  # pioneer | repeater
    face_id: str | None = None
    device_id: str | None = None
    passport_series: str | None = None
    passport_number: str | None = None
    birth_date: date | None = None
    citizenship: str | None = None
    product_type: str | None = None
    requested_amount: int | None = None  # kopecks


class Check(msgspec.Struct, frozen=True):
    """One lead's answer. REJECT: the service says no (reason: short machine code, e.g. "BLACK_LISTED",
    "ML_SCORE_LOW", "NO_PRODUCTS"; value: what decided it, e.g. the score or the matched record id).
    ERROR: no answer after retries / breaker open / garbage (reason: "TIMEOUT", "HTTP_503", "CIRCUIT_OPEN",
    "BAD_RESPONSE"...). PASS: ok; data: extra fields for enrichment (client-data) or the products offered."""

    outcome: CheckOutcome
    reason: str | None = None
    value: str | None = None
    data: dict[str, Any] | None = None
