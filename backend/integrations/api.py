"""The integrations API the filter cascade uses (agreed in the integrations brief; keep it stable).

One ``Integrations`` per process owns the HTTP session, a semaphore and a circuit breaker per service.
Each check takes a batch of leads and answers one ``Check`` per lead in the same order; a service failure
never raises: it is ``Check(outcome="ERROR", reason=...)`` for the leads it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from backend.core.settings import Settings

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


class Integrations:
    """One per process; owns the HTTP client session, per-service semaphores and circuit breakers."""

    @classmethod
    async def start(cls, settings: Settings) -> Integrations:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def phone_black_list(self, leads: Sequence[IntegrationLead]) -> list[Check]:
        """BlackList: REJECT "BLACK_LISTED" (value: the matched record id) when the phone or device id is listed."""
        raise NotImplementedError

    async def ml(self, model: MlModel, leads: Sequence[IntegrationLead]) -> list[Check]:
        """ML check of one model: REJECT "ML_SCORE_LOW" (value: the score) when the service says reject."""
        raise NotImplementedError

    async def available_products(self, leads: Sequence[IntegrationLead], products: Sequence[str]) -> list[Check]:
        """Products ("Abram"): PASS with data {"products": [...]} (those of ``products`` the client may get;
        all offered if ``products`` is empty); REJECT "NO_PRODUCTS" when none."""
        raise NotImplementedError

    async def client_data(self, leads: Sequence[IntegrationLead]) -> list[Check]:
        """Client data ("Casper"): PASS with data = the enrichment fields found (None when nothing known)."""
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        """Per service: breaker state, requests, failures, recent error counts."""
        raise NotImplementedError
