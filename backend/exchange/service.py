"""Taking a communication request: idempotent on (client, requestID), a task entered in the mapped campaign
through the campaigns' own entry (rules.sink.TaskSink, as the cascade enters its leads), the seed's response
stored with the request and returned again to a repeat."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import msgspec

from backend.core.errors import Conflict
from backend.exchange import keys, queries
from backend.exchange.guard import IntegrationPrincipal
from backend.exchange.schemas import CommunicationRequest, CommunicationResponse
from backend.rules import queries as rules_queries
from backend.rules.config import RulesConfig
from backend.rules.hours import client_zone, next_allowed
from backend.rules.sink import Entry, TaskSink

log = logging.getLogger("backend.exchange")
_encode = msgspec.json.Encoder()
_rules = msgspec.json.Decoder(RulesConfig)


@dataclass(frozen=True)
class Answer:
    body: bytes
    replayed: bool


def body_hash(request: CommunicationRequest) -> bytes:
    """The request as decoded (field order fixed by the struct): whitespace and key order do not make a
    repeat "different"."""
    return hashlib.sha256(_encode.encode(request)).digest()


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_configs: dict[int, RulesConfig] = {}


def _config(version_id: int, raw: Any) -> RulesConfig:
    """Rules versions never change (append-only), so each is decoded once per process."""
    config = _configs.get(version_id)
    if config is None:
        config = msgspec.convert(raw, RulesConfig) if not isinstance(raw, bytes | str) else _rules.decode(raw)
        if len(_configs) > 1000:
            _configs.clear()
        _configs[version_id] = config
    return config


class _Taken(Exception):
    """A twin of this request committed first: undo ours and answer with the twin's."""


async def _stored(db: Any, who: IntegrationPrincipal, request_id: str, digest: bytes) -> Answer | None:
    stored = await queries.stored_request(db, who.client_id, request_id)
    if stored is None:
        return None
    if bytes(stored["body_hash"]) != digest:
        raise Conflict("This requestID was already used with a different request", code="REQUEST_ID_CONFLICT",
                       field="requestID")
    return Answer(stored["response"].encode(), True)


async def accept(pool: asyncpg.Pool, sink: TaskSink, who: IntegrationPrincipal,
                 request: CommunicationRequest) -> Answer:
    """A repeat is answered from the stored response (one read, no transaction). A new request is decided
    and stored in one transaction whose last statement claims its requestID: a concurrent twin that claimed
    it first makes this one roll back (its task never existed) and answer with the twin's response."""
    digest = body_hash(request)
    repeat = await _stored(pool, who, request.requestID, digest)
    if repeat is not None:
        return repeat
    ids = [(c.systemCode, c.id) for c in request.clientIdList]
    sent: list[dict[str, Any]] = []
    response = CommunicationResponse(requestID=str(uuid.uuid4()), replyUID=request.requestID, dt=_now_text(),
                                     statusCode="0")
    try:
        async with pool.acquire() as conn, conn.transaction():
            task_id, expires_at, sent = await _decide(conn, sink, who, request, ids, response)
            body = _encode.encode(response)
            if not await queries.insert_request(
                    conn, who.client_id, request.requestID, body_hash=digest, reply_id=response.requestID,
                    request=msgspec.to_builtins(request), response=body.decode(),
                    status_code=int(response.statusCode), campaign_id=who.campaign_id, task_id=task_id,
                    expires_at=expires_at):
                raise _Taken
    except _Taken:
        twin = await _stored(pool, who, request.requestID, digest)
        assert twin is not None  # it committed before our insert returned
        return twin
    if sent:
        await sink.send(sent)
    return Answer(body, False)


async def _decide(conn: Any, sink: TaskSink, who: IntegrationPrincipal, request: CommunicationRequest,
                  ids: list[tuple[str, str]], response: CommunicationResponse,
                  ) -> tuple[int | None, datetime | None, list[dict[str, Any]]]:
    """statusCode 1 (no phone for the client), 2 (no campaign; do-not-call; booked elsewhere) or 0 with the
    task entered through the campaigns' TaskSink under the campaign's rules (calling hours, priority)."""
    campaign_id = who.campaign_id
    phone = request.phone or await queries.known_phone(conn, who.client_id, ids)
    if phone is None:
        response.statusCode = "1"
        response.statusMsg = "Клиент не найден: нет телефона ни в запросе, ни по clientIdList"
        return None, None, []
    campaign = await queries.campaign_rules(conn, campaign_id) if campaign_id is not None else None
    if campaign_id is None or campaign is None:
        response.statusCode, response.statusMsg = "2", "Для клиента интеграции не настроена кампания"
        return None, None, []
    barred = await rules_queries.dial_bars(conn, cast(Any, [{"id": 0, "phone": phone, "campaign_id": campaign_id}]))
    if barred:
        response.statusCode = "2"
        response.statusMsg = ("Клиент в списке «не звонить»" if barred[0] == "DO_NOT_CALL"
                              else "Клиент закреплён за другой кампанией")
        return None, None, []
    info = {**request.clientInfo, "inn": request.inn, "ogrn": request.ogrn, "kpp": request.kpp,
            "clientIds": dict(ids)}
    if request.okpo is not None:
        info["okpo"] = request.okpo
    now = datetime.now(UTC)
    if campaign["version_id"] is not None:
        config = _config(campaign["version_id"], campaign["config"])
        task_time = next_allowed(config, now, client_zone(config, info.get("timeZone")))
        version_id, priority = int(campaign["version_id"]), config.priority
    else:
        task_time, version_id, priority = now, None, 0
    [task_id], sent = await sink.enter_many(conn, campaign_id, [Entry(phone, info, task_time)],
                                            rules_version_id=version_id, priority=priority)
    if request.phone is not None:
        await queries.remember_ids(conn, who.client_id, ids, phone)
    response.taskID = str(task_id)
    return task_id, now + timedelta(hours=who.task_validity_hours), sent


async def demo_client(pool: asyncpg.Pool, push_url: str | None, campaign_name: str) -> dict[str, Any]:
    """The run command's demo: the integration client "demo-crm" mapped to the named campaign (made or
    updated) and a new API key for it; the key and signing secret are returned to be printed."""
    async with pool.acquire() as conn, conn.transaction():
        campaign = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", campaign_name)
        row = await conn.fetchrow(
            """INSERT INTO exchange_clients (name, campaign_id, push_url, signing_secret)
               VALUES ('demo-crm', $1, $2, $3)
               ON CONFLICT (lower(name)) DO UPDATE SET campaign_id = excluded.campaign_id, push_url = excluded.push_url
               RETURNING id, signing_secret""", campaign, push_url, keys.new_signing_secret())
        assert row is not None
        key_id, api_key, secret_hash = keys.new_key()
        await queries.insert_key(conn, key_id, row["id"], secret_hash, None, "demo", None)
    return {"clientId": row["id"], "apiKey": api_key, "signingSecret": row["signing_secret"], "pushUrl": push_url,
            "campaignId": campaign}
