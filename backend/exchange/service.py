"""Taking a communication request: idempotent on (client, requestID), a task entered in the mapped campaign
through the campaigns' own entry of one client (the database function campaign_enter_one, which the
campaigns' TaskSink uses for one entry too), the seed's response stored with the request and returned again
to a repeat. The TaskSink sends the telephony DELETEs a re-entry queues."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis

from backend.calls import commands
from backend.core.errors import Conflict, NotFound
from backend.core.settings import Settings
from backend.exchange import keys, queries
from backend.exchange.guard import IntegrationPrincipal
from backend.exchange.schemas import CommunicationRequest, CommunicationResponse
from backend.rules.config import RulesConfig
from backend.rules.hours import client_zone, next_allowed
from backend.rules.sink import TaskSink

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


def _repeat(stored_hash: bytes | None, stored_response: str | None, digest: bytes) -> Answer | None:
    if stored_hash is None or stored_response is None:
        return None
    if bytes(stored_hash) != digest:
        raise Conflict("This requestID was already used with a different request", code="REQUEST_ID_CONFLICT",
                       field="requestID")
    return Answer(stored_response.encode(), True)


async def accept(pool: asyncpg.Pool, sink: TaskSink, who: IntegrationPrincipal,
                 request: CommunicationRequest) -> Answer:
    """A repeat is answered from the stored response (one read). A new request is decided from that same
    read (the campaign's rules in force, the phone of a known client, the do-not-call and booking check; the
    id of the task it will make), then written by one statement (queries.claim) that claims its requestID
    and only then enters its task (campaign_enter_one, the campaigns' entry of one client, as the cascade's
    TaskSink enters one): a concurrent twin that claimed it first leaves this one nothing written, and it
    answers with the twin's response. Two round trips for a new request, one for a repeat."""
    encoded = _encode.encode(request)
    digest = hashlib.sha256(encoded).digest()  # body_hash(request)
    ids = [(c.systemCode, c.id) for c in request.clientIdList]
    async with pool.acquire() as conn:  # one connection for it all: each release costs a reset round trip
        seen = await queries.prelude(conn, who.client_id, request.requestID, who.campaign_id,
                                     [] if request.phone else ids, request.phone)
        repeat = _repeat(seen["body_hash"], seen["response"], digest)
        if repeat is not None:
            return repeat
        response = CommunicationResponse(requestID=str(uuid.uuid4()), replyUID=request.requestID, dt=_now_text(),
                                         statusCode="0")
        phone = request.phone or seen["known_phone"]
        task = _decide(who, request, ids, phone, seen, response)
        expires_at: datetime | None = None
        if task is not None:
            response.taskID = str(task.task_id)
            expires_at = datetime.now(UTC) + timedelta(hours=who.task_validity_hours)
        body = _encode.encode(response)
        row = await queries.claim(
            conn, who.client_id, request.requestID, body_hash=digest, reply_id=response.requestID,
            request=msgspec.Raw(encoded), response=body.decode(), status_code=int(response.statusCode),
            campaign_id=who.campaign_id, task=task, expires_at=expires_at,
            known_ids=ids if request.phone and task else [], phone=phone)
        if not row["claimed"]:  # a twin holds the requestID: its response (or a 409)
            twin = await queries.stored_request(conn, who.client_id, request.requestID)
            assert twin is not None  # it committed before our claim returned
            answer = _repeat(twin["body_hash"], twin["response"], digest)
            assert answer is not None
            return answer
    sent = [{"type": "DELETE_TASK", "telephonyTaskId": d, "campaignTaskId": t}
            for d, t in zip(row["delete_ids"] or [], row["deleted_tasks"] or [], strict=True)]
    if sent:
        await sink.send(sent)
    return Answer(body, False)


def _decide(who: IntegrationPrincipal, request: CommunicationRequest, ids: list[tuple[str, str]], phone: str | None,
            seen: asyncpg.Record, response: CommunicationResponse) -> queries.TaskEntry | None:
    """statusCode 1 (no phone for the client), 2 (no campaign; do-not-call; booked elsewhere: the response
    says), else the task to enter under the campaign's rules (calling hours, priority)."""
    if phone is None:
        response.statusCode = "1"
        response.statusMsg = "Клиент не найден: нет телефона ни в запросе, ни по clientIdList"
        return None
    if who.campaign_id is None or not seen["campaign_exists"]:
        response.statusCode, response.statusMsg = "2", "Для клиента интеграции не настроена кампания"
        return None
    if seen["bar"] is not None:  # the prelude's do-not-call and booking check (the hand-over checks again)
        response.statusCode = "2"
        response.statusMsg = ("Клиент в списке «не звонить»" if seen["bar"] == "DO_NOT_CALL"
                              else "Клиент закреплён за другой кампанией")
        return None
    info = {**request.clientInfo, "inn": request.inn, "ogrn": request.ogrn, "kpp": request.kpp,
            "clientIds": dict(ids)}
    if request.okpo is not None:
        info["okpo"] = request.okpo
    now = datetime.now(UTC)
    assert seen["task_id"] is not None  # the prelude allocated it under these very conditions
    if seen["version_id"] is None:
        return queries.TaskEntry(seen["task_id"], phone, info, now, None, 0)
    config = _config(seen["version_id"], seen["config"])
    task_time = next_allowed(config, now, client_zone(config, info.get("timeZone")))
    return queries.TaskEntry(seen["task_id"], phone, info, task_time, int(seen["version_id"]), config.priority)


async def cancel(pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, who: IntegrationPrincipal,
                 request_id: str) -> None:
    """The client takes its request back: a task still waiting (NEW) or with telephony (IN_PROGRESS: a
    DELETE goes to the provider) is closed CANCELLED and its push (taskStatus 5) follows. A task already
    closed stays as it is (a repeated cancel is harmless; the outcome says what happened). A task whose call
    has started is the operator's now: 409."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.lock_request_task(conn, who.client_id, request_id)
        if row is None:
            raise NotFound("No request of this client has this requestID", code="REQUEST_NOT_FOUND",
                           field="requestID")
        if row["campaign_task_id"] is None:
            raise Conflict("This request made no task (statusCode 1 or 2)", code="REQUEST_HAS_NO_TASK",
                           field="requestID")
        state, reason = row["task_state"], row["close_reason"]
        if state == "DONE" and reason is None:
            raise Conflict("The client is being called or the call's result is pending; its outcome will follow",
                           code="TASK_ON_CALL", field="requestID")
        delete_id = None
        if state != "DONE":
            delete_id = await queries.cancel_task(conn, row["campaign_task_id"], state == "IN_PROGRESS")
    if delete_id is not None:
        await commands.send(redis, settings, [{"type": "DELETE_TASK", "telephonyTaskId": delete_id,
                                               "campaignTaskId": row["campaign_task_id"]}])


async def demo_client(pool: asyncpg.Pool, push_url: str | None, campaign_name: str) -> dict[str, Any]:
    """The run command's demo: the integration client "demo-crm" mapped to the named campaign (made or
    updated) and a new API key for it (the previous demo key is revoked); the key and signing secret are
    returned to be printed."""
    async with pool.acquire() as conn, conn.transaction():
        campaign = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", campaign_name)
        row = await conn.fetchrow(
            """INSERT INTO exchange_clients (name, campaign_id, push_url, signing_secret)
               VALUES ('demo-crm', $1, $2, $3)
               ON CONFLICT (lower(name)) DO UPDATE SET campaign_id = excluded.campaign_id, push_url = excluded.push_url
               RETURNING id, signing_secret""", campaign, push_url, keys.new_signing_secret())
        assert row is not None
        await conn.execute("UPDATE exchange_keys SET revoked_at = now() WHERE client_id = $1 AND label = 'demo' "
                           "AND revoked_at IS NULL", row["id"])  # the previous start's key
        key_id, api_key, secret_hash = keys.new_key()
        await queries.insert_key(conn, key_id, row["id"], secret_hash, None, "demo", None)
    return {"clientId": row["id"], "apiKey": api_key, "signingSecret": row["signing_secret"], "pushUrl": push_url,
            "campaignId": campaign}
