"""Feeding call events and reading the operator's socket, as the telephony side and a browser would."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
import websockets

from backend.calls.signature import sign
from tests.harness import TELEPHONY_SECRET, unique

CLIENT_INFO = {
    "fullNameRu": {"name": "Шахноза", "lastName": "Ибрагимова", "middleName": "Рустамовна"},
    "fullNameEn": {"name": "Shakhnoza", "lastName": "Ibragimova"},
    "citizenship": "Узбекистан",
    "birthDate": "12.05.1995",
}


def phone() -> str:
    return "79" + str(int(time.time_ns()) % 10**9).zfill(9)


async def seed_task(db: asyncpg.Pool, client_phone: str | None = None, *, with_product: bool = True) -> dict[str, Any]:
    client_phone = client_phone or phone()
    campaign_name = unique("Доведи до займа ")[:60]
    async with db.acquire() as conn:
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (name, description) VALUES ($1, 'Предложите завершить заявку') RETURNING id",
            campaign_name)
        task = await conn.fetchval(
            "INSERT INTO campaign_tasks (campaign_id, phone, client_info) VALUES ($1, $2, $3::jsonb) RETURNING id",
            campaign, client_phone, json.dumps(CLIENT_INFO))
        if with_product:
            await conn.execute(
                """INSERT INTO client_products (phone, do_id, start_time, end_time, status, product,
                       requested_amount, approved_amount, term, term_unit, grace, grace_unit, filling,
                       is_current, retail_chain, device_os, interest_rate)
                   VALUES ($1, '34697463', '2026-11-20 09:45+00', '2026-12-20 09:45+00',
                           '{"dictionaryKey":"scored","dictionaryValue":"Скоринг пройден"}',
                           '{"dictionaryKey":"express","dictionaryValue":"Микрозайм"}',
                           2500000, 2000000, 21, '{"dictionaryKey":"day","dictionaryValue":"дней"}',
                           7, '{"dictionaryKey":"day","dictionaryValue":"дней"}',
                           '[{"name":"Селфи/ДУЛ","status":"ERROR","errors":[{"errorDescription":"Плохое качество",
                             "advice":"Дождитесь фокусировки камеры"}]}]',
                           true, '{"dictionaryKey":"mvideo","dictionaryValue":"М.Видео"}',
                           '{"dictionaryKey":"ANDROID","dictionaryValue":"Android"}', 80)""",
                client_phone)
    return {"task": task, "phone": client_phone, "campaign": campaign_name}


def event(kind: str, operator_id: int, task: dict[str, Any], call_id: str, **extra: Any) -> dict[str, Any]:
    return {"eventId": unique("ev-"), "type": kind, "callId": call_id, "operatorId": operator_id,
            "campaignTaskId": task["task"], "phone": task["phone"],
            "occurredAt": datetime.now(UTC).isoformat(), **extra}


async def push(http: httpx.AsyncClient, base: str, payload: dict[str, Any] | bytes, *,
               secret: str = TELEPHONY_SECRET, timestamp: int | None = None) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    return await http.post(f"{base}/api/telephony/v1/events", content=body, headers={
        "content-type": "application/json", "x-telephony-timestamp": str(ts),
        "x-telephony-signature": sign(secret, ts, body)})


async def xadd(redis_url: str, prefix: str, payload: dict[str, Any]) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.xadd(prefix + "call-events", {"event": json.dumps(payload)})
    finally:
        await client.aclose()


class Socket:
    """A workstation socket: connect, HELLO, then read frames."""

    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws = ws
        self.hello = hello

    @classmethod
    async def open(cls, base: str, token: str, last_seq: int | None = None, **kwargs: Any) -> Socket:
        ws = await websockets.connect(base.replace("http://", "ws://") + "/api/arm/v1/ws", **kwargs)
        await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": last_seq}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return cls(ws, hello)

    async def next(self, timeout: float = 5.0, skip: tuple[str, ...] = ("PING", "PONG")) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, left)))
            if frame["type"] not in skip:
                return frame

    async def expect(self, *types: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in types] if types else []

    async def silent(self, seconds: float) -> bool:
        try:
            await self.next(seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()
