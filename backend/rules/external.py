"""The integration filters of the cascade: PHONE_BLACK_LIST, ML_*, AVAILABLE_PRODUCTS and CLIENT_DATA ask the
services (backend.integrations) about the leads still in the running, a batch at a time.

An answer decides: PASS keeps the lead (client data and offered products are kept for its task), REJECT stops
it with the service's reason and value. No answer (ERROR after the client's retries, or its breaker open):
for an ML model ``ml-skip-error`` decides (true: the lead passes; false: it is rejected with reason
``ERROR:<why>``); for any other service the lead is not decided at all: the batch is not written and is
retried later (see cascade.py), so a failing service never silently drops or waves through a lead.
"""

from __future__ import annotations

from typing import Any, cast

from backend.integrations.api import Check, IntegrationLead, Integrations, MlModel
from backend.rules.config import RulesConfig
from backend.rules.filters import Batch


def lead_of(row: Any) -> IntegrationLead:
    return IntegrationLead(
        application_no=row["application_no"], phone=row["phone"], client_type=row["client_type"],
        face_id=row["face_id"], device_id=row["device_id"], passport_series=row["passport_series"],
        passport_number=row["passport_number"], birth_date=row["birth_date"], citizenship=row["citizenship"],
        product_type=row["product_type"], requested_amount=row["requested_amount"])


async def run(name: str, batch: Batch, alive: list[int], config: RulesConfig,
              integrations: Integrations | None) -> None:
    if not alive:
        return
    if integrations is None:
        checks = [Check("ERROR", "NOT_CONFIGURED")] * len(alive)
    else:
        cache = batch.integration_leads  # built once per lead, whichever of the seven filters asks first
        leads = []
        for i in alive:
            lead = cache.get(i)
            if lead is None:
                lead = cache[i] = lead_of(batch.rows[i])
            leads.append(lead)
        if name == "PHONE_BLACK_LIST":
            checks = await integrations.phone_black_list(leads)
        elif name.startswith("ML_"):
            checks = await integrations.ml(cast(MlModel, name.removeprefix("ML_")), leads)
        elif name == "AVAILABLE_PRODUCTS":
            checks = await integrations.available_products(leads, config.available_products)
        else:
            checks = await integrations.client_data(leads)
    if len(checks) != len(alive):  # a broken client must not shift answers onto the wrong leads
        checks = [Check("ERROR", "BAD_RESPONSE")] * len(alive)
    ml = name.startswith("ML_")
    for i, check in zip(alive, checks, strict=True):
        if check.outcome == "PASS":
            if check.data:
                extra = batch.enrichment.setdefault(i, {})
                if name == "AVAILABLE_PRODUCTS":
                    extra["availableProducts"] = check.data.get("products")
                elif name == "CLIENT_DATA":
                    extra.update(check.data)
        elif check.outcome == "REJECT":
            batch.reject(i, name, check.reason or "REJECTED", check.value)
        elif ml:
            if not config.ml_skip_error:
                batch.reject(i, name, f"ERROR:{check.reason or 'UNKNOWN'}", check.value)
        else:
            batch.errors[i] = (name, check.reason or "UNKNOWN")
