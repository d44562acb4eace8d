"""A client written to the thesis: it knows only the appendices. Every answer it gets is checked against
``spec`` field by field; it polls ``hasChanges`` and calls ``getClientCard`` whenever that is true (ch. 3)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import asyncpg
import httpx

from tests.contract.spec import BY_NAME, check
from tests.harness import unique

CLIENT_INFO = {
    "fullNameRu": {"name": "Шахноза", "lastName": "Ибрагимова", "middleName": "Рустамовна"},
    "fullNameEn": {"name": "Shakhnoza", "lastName": "Ibragimova", "middleName": "Rustamovna"},
    "citizenship": "Узбекистан",
    "birthDate": "12.05.1995",
}
_DICT = '{"dictionaryKey":"%s","dictionaryValue":"%s"}'


async def seed_client(db: asyncpg.Pool, phone: str, *, products: bool = True) -> dict[str, Any]:
    """A campaign (name within appendix З's 32 characters), one task, and two products: a loan with every
    field of ProductDto, and an application with no end date (appendix З requires endTime all the same)."""
    name = unique("Займ ")[:32]
    async with db.acquire() as conn:
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (name, description) VALUES ($1, 'Предложите займ') RETURNING id", name)
        task = await conn.fetchval(
            "INSERT INTO campaign_tasks (campaign_id, phone, client_info) VALUES ($1, $2, $3::jsonb) RETURNING id",
            campaign, phone, json.dumps(CLIENT_INFO))
        if products:
            filling = [{"name": "Селфи/ДУЛ", "status": "ERROR",
                        "documentDict": {"dictionaryKey": "SELFIE", "dictionaryValue": "Селфи"},
                        "errors": [{"errorDescription": "Плохое качество", "advice": "Дождитесь фокусировки"}]}]
            await conn.execute(
                f"""INSERT INTO client_products (phone, do_id, start_time, end_time, status, product,
                       requested_amount, approved_amount, term, term_unit, grace, grace_unit, filling, is_current,
                       retail_chain, device_os, credit_method, interest_rate)
                   VALUES ($1, '34697463', '2026-11-20 09:45+00', '2026-12-20 09:45+00',
                           '{_DICT % ("scored", "Скоринг пройден")}', '{_DICT % ("express", "Микрозайм")}',
                           2500000, 2000000, 21, '{_DICT % ("day", "дней")}', 7, '{_DICT % ("day", "дней")}',
                           $2::jsonb, true, '{_DICT % ("mvideo", "М.Видео")}', '{_DICT % ("ANDROID", "Android")}',
                           '{_DICT % ("CARD", "На карту")}', 80),
                          ($1, '34697464', '2026-11-25 10:00+00', NULL,
                           '{_DICT % ("registered", "Зарегистрирована")}', NULL, 1500000, NULL, 0, NULL, 0, NULL,
                           '[]'::jsonb, false, NULL, NULL, NULL, NULL)""",
                phone, json.dumps(filling))
    return {"task": task, "phone": phone, "campaign": name}


class ThesisClient:
    """Calls the seed's endpoints and checks each answer; ``seen`` collects the fields met per endpoint."""

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base
        self.token: str | None = None
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.cards: list[dict[str, Any]] = []

    async def call(self, name: str, body: dict[str, Any] | None = None, *,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        endpoint = BY_NAME[name]
        sent = dict(headers or {})
        if self.token and endpoint.path.startswith("/api/arm/") and not endpoint.path.endswith("/login"):
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            assert not check(endpoint.request, body), (name, check(endpoint.request, body))
        response = await self.http.request(endpoint.method, self.base + endpoint.path, json=body, headers=sent)
        assert response.status_code == 200, (name, response.status_code, response.text)
        payload: dict[str, Any] = response.json()
        problems = check(endpoint.response, payload, self.seen[name])
        assert not problems, (name, problems, payload)
        return payload

    async def poll(self) -> dict[str, Any] | None:
        """One round of the thesis' polling loop: hasChanges, then getClientCard if it says so."""
        changes = await self.call("arm.hasChanges")
        if not changes["data"]["hasChanges"]:
            return None
        card = await self.call("arm.getClientCard")
        self.cards.append(card)
        return card
