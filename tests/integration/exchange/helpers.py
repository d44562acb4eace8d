"""Integration clients set up through the admin API, seed-004 requests, and waiting for what a receiver got."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from backend.exchange import signing
from tests.harness import unique

TAXONOMY = [
    {"key": "REACHED", "label": "Дозвон", "outcome": "SUCCESS", "children": [
        {"key": "PLANS", "label": "Дозвон - планирует миграцию",
         "children": [{"key": "CONSULTED", "label": "Проконсультирован по миграции"}]},
        {"key": "NOT_PLANS", "label": "Дозвон - не планирует миграцию", "outcome": "REFUSAL",
         "children": [{"key": "OTHER_BANK", "label": "Перешел в другой банк"}, {"key": "OTHER"}]}]},
    {"key": "NOT_REACHED", "label": "Недозвон", "outcome": "NO_ANSWER", "children": [
        {"key": "NO_PICKUP", "label": "Не берет трубку"}]},
]


def rules(**extra: Any) -> dict[str, Any]:
    """Rules under which a task is due at once (UTC, calling all day) with the seed's reaction taxonomy."""
    return {"data-streams": [unique("X_").upper()], "filters-order": [], "time-zone": "UTC",
            "calling-hours": {"from": "00:00", "to": "23:59"}, "result-taxonomy": TAXONOMY, **extra}


def phone() -> str:
    return "79" + str(time.time_ns() // 1000 % 10**9).zfill(9)


def request_body(client_phone: str | None = None, **extra: Any) -> dict[str, Any]:
    mdm = str(uuid.uuid4().int % 10**9)
    body: dict[str, Any] = {
        "requestID": str(uuid.uuid4()), "dt": "2023-07-27T09:27:04.953+03:00",
        "clientIdList": [{"systemCode": "vtb_mdm_id", "id": mdm}, {"systemCode": "INFOR", "id": f"A6UJ{mdm}"}],
        "inn": "1200009193", "ogrn": "1231200000844", "kpp": "120001001", "okpo": "02847208",
        "clientInfo": {"lastName": "Иванова", "firstName": "Анна"}, **extra}
    if client_phone is not None:
        body["phone"] = client_phone
    return body


class Exchange:
    """One integration client of a running web process: its id, API key, signing secret and receiver."""

    def __init__(self, http: httpx.AsyncClient, base: str, admin: dict[str, str]) -> None:
        self.http, self.base, self.admin = http, base, admin
        self.client_id = 0
        self.api_key = ""
        self.secret = ""

    @classmethod
    async def create(cls, http: httpx.AsyncClient, base: str, admin: dict[str, str], *, campaign_id: int | None,
                     push_url: str | None = None, **fields: Any) -> Exchange:
        ex = cls(http, base, admin)
        r = await http.post(f"{base}/api/admin/v1/integration-clients", headers=admin,
                            json={"name": unique("crm-"), "campaignId": campaign_id, "pushUrl": push_url, **fields})
        assert r.status_code == 201, r.text
        ex.client_id, ex.secret = r.json()["data"]["id"], r.json()["data"]["signingSecret"]
        ex.api_key = await ex.new_key()
        return ex

    async def new_key(self, **fields: Any) -> str:
        r = await self.http.post(f"{self.base}/api/admin/v1/integration-clients/{self.client_id}/keys",
                                 headers=self.admin, json=fields)
        assert r.status_code == 201, r.text
        key: str = r.json()["data"]["apiKey"]
        return key

    async def send(self, body: dict[str, Any] | bytes, *, api_key: str | None = None, signed: bool = False,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        sent = {"content-type": "application/json", "x-api-key": self.api_key if api_key is None else api_key}
        if signed:
            sent.update(signing.headers(self.secret, int(time.time()), raw))
        sent.update(headers or {})
        return await self.http.post(f"{self.base}/api/integration/v1/communication-requests", content=raw,
                                    headers=sent)

    async def poll(self, request_id: str, api_key: str | None = None) -> httpx.Response:
        return await self.http.get(f"{self.base}/api/integration/v1/communication-requests/{request_id}",
                                   headers={"x-api-key": self.api_key if api_key is None else api_key})


async def make_campaign(http: httpx.AsyncClient, base: str, admin: dict[str, str], **rule_fields: Any) -> int:
    r = await http.post(f"{base}/api/admin/v1/campaigns", json={"name": unique("Миграция ")}, headers=admin)
    assert r.status_code == 201, r.text
    campaign: int = r.json()["data"]["id"]
    r = await http.put(f"{base}/api/admin/v1/campaigns/{campaign}/rules", json=rules(**rule_fields), headers=admin)
    assert r.status_code == 200, r.text
    return campaign


async def eventually(check: Any, timeout: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)
