"""The integrations API the filter cascade uses (agreed in the integrations brief; keep it stable).

One ``Integrations`` per process owns a pool of keep-alive connections, a semaphore and a circuit breaker
per service (``transport.ServiceClient``). Each check takes a batch of leads and answers one ``Check`` per
lead, in the same order; a service failure never raises: it is ``Check(outcome="ERROR", reason=...)`` for
the leads it concerns. With INTEGRATIONS_URL unset every check answers ERROR "NOT_CONFIGURED".

Leads go to a service's batch endpoint ``INTEGRATION_BATCH_SIZE`` at a time (0: one request per lead), all
of a call's requests at once within ``INTEGRATION_CONCURRENCY`` per service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backend.integrations import wire
from backend.integrations.breaker import Breaker
from backend.integrations.checks import ML_MODELS, Check, CheckOutcome, IntegrationLead, MlModel
from backend.integrations.transport import ServiceClient

if TYPE_CHECKING:
    from backend.core.settings import Settings

__all__ = ["ML_MODELS", "SERVICES", "Check", "CheckOutcome", "IntegrationLead", "Integrations", "MlModel"]

SERVICES = ("blacklist", "ml", "products", "client-data")
NOT_CONFIGURED = Check(outcome="ERROR", reason="NOT_CONFIGURED")


class Integrations:
    """One per process; owns the HTTP client session, per-service semaphores and circuit breakers."""

    def __init__(self, clients: dict[str, ServiceClient], batch_size: int) -> None:
        self._clients = clients
        self._batch = batch_size

    @classmethod
    async def start(cls, settings: Settings) -> Integrations:
        """Must run inside the event loop that will use it (the sessions belong to it)."""
        clients: dict[str, ServiceClient] = {}
        if settings.integrations_url:
            for name in SERVICES:
                breaker = Breaker(settings.integration_breaker_failures, settings.integration_breaker_reset_seconds)
                clients[name] = ServiceClient(
                    name, settings.integrations_url, concurrency=settings.integration_concurrency,
                    timeout=settings.integration_timeout_seconds, attempts=settings.integration_attempts,
                    breaker=breaker)
        return cls(clients, settings.integration_batch_size)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    async def _run(self, service: str, leads: Sequence[IntegrationLead],
                   requests: list[wire.Request] | None) -> list[Check]:
        if not leads:
            return []
        client = self._clients.get(service)
        if client is None or requests is None:
            return [NOT_CONFIGURED] * len(leads)
        return await client.run(requests)

    def _configured(self, service: str) -> bool:
        return service in self._clients

    async def phone_black_list(self, leads: Sequence[IntegrationLead]) -> list[Check]:
        """BlackList: REJECT "BLACK_LISTED" (value: the matched record id; data: the list's reason and
        until) when the phone or the device id is listed."""
        plan = wire.blacklist_requests(leads, self._batch) if self._configured("blacklist") else None
        return await self._run("blacklist", leads, plan)

    async def ml(self, model: MlModel, leads: Sequence[IntegrationLead]) -> list[Check]:
        """ML check of one model: REJECT "ML_SCORE_LOW" (value: the score) when the model says reject;
        PASS data {"score"}."""
        if model not in ML_MODELS:
            raise ValueError(f"unknown ML model {model!r}")  # a programming error, not a service failure
        plan = wire.ml_requests(model, leads, self._batch) if self._configured("ml") else None
        return await self._run("ml", leads, plan)

    async def available_products(self, leads: Sequence[IntegrationLead], products: Sequence[str]) -> list[Check]:
        """Products ("Abram"): PASS with data {"borrowerType", "products": [{code, minAmount, maxAmount,
        ratePercent, termDays}]} — the offered products among ``products`` (all offered if it is empty);
        REJECT "NO_PRODUCTS" (value: what was offered, comma-separated, or None) when none is left."""
        plan = wire.offer_requests(leads, tuple(products), self._batch) if self._configured("products") else None
        return await self._run("products", leads, plan)

    async def client_data(self, leads: Sequence[IntegrationLead]) -> list[Check]:
        """Client data ("Casper"): PASS with data = the client's record (None when nothing is known); only
        ERROR when the service fails — enrichment never rejects."""
        plan = wire.client_data_requests(leads, self._batch) if self._configured("client-data") else None
        return await self._run("client-data", leads, plan)

    def health(self) -> dict[str, Any]:
        """Per service: breaker state ("closed" | "open" | "half-open"), consecutive failures, times opened,
        seconds until a trial when open, requests sent, in flight now and at most, failed requests in the
        last minute and by reason since start. {"configured": false} when INTEGRATIONS_URL is unset."""
        if not self._clients:
            return {"configured": False}
        return {"configured": True, **{name: client.health() for name, client in self._clients.items()}}
