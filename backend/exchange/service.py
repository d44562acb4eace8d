"""Taking a communication request: idempotent on (client, requestID), a task entered in the mapped campaign
through the campaigns' own entry (rules.sink.TaskSink, as the cascade enters its leads), the seed's response
stored with the request and returned again to a repeat."""

from __future__ import annotations

import contextlib
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


def _repeat(stored_hash: bytes | None, stored_response: str | None, digest: bytes) -> Answer | None:
    if stored_hash is None or stored_response is None:
        return None
    if bytes(stored_hash) != digest:
        raise Conflict("This requestID was already used with a different request", code="REQUEST_ID_CONFLICT",
                       field="requestID")
    return Answer(stored_response.encode(), True)


async def accept(pool: asyncpg.Pool, sink: TaskSink, who: IntegrationPrincipal,
                 request: CommunicationRequest) -> Answer:
    """A repeat is answered from the stored response (one read, no transaction). A new request is decided
    from that same read (the campaign's rules in force, the phone of a known client, the do-not-call and
    booking check), then its task and its record are written in one transaction whose last statement
    claims its requestID: a concurrent twin that claimed it first makes this one roll back (its task never
    existed) and answer with the twin's response. Five round trips for a new request (the read, BEGIN, the
    task's one statement, the claim, COMMIT), two for a refusal (statusCode 1 or 2: the read, the claim),
    one for a repeat."""
    digest = body_hash(request)
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
        entry = _decide(who, request, ids, phone, seen, response)
        body = _encode.encode(response)
        task_id: int | None = None
        expires_at: datetime | None = None
        sent: list[dict[str, Any]] = []
        try:
            # A refusal writes one statement: no transaction needed (two round trips fewer).
            async with conn.transaction() if entry is not None else contextlib.nullcontext():
                if entry is not None:
                    assert who.campaign_id is not None and phone is not None
                    version_id, priority, task_entry = entry
                    [task_id], sent = await sink.enter_many(conn, who.campaign_id, [task_entry],
                                                            rules_version_id=version_id, priority=priority)
                    response.taskID = str(task_id)
                    body = _encode.encode(response)
                    expires_at = datetime.now(UTC) + timedelta(hours=who.task_validity_hours)
                if not await queries.insert_request(
                        conn, who.client_id, request.requestID, body_hash=digest, reply_id=response.requestID,
                        request=msgspec.to_builtins(request), response=body.decode(),
                        status_code=int(response.statusCode), campaign_id=who.campaign_id, task_id=task_id,
                        expires_at=expires_at, known_ids=ids if request.phone and task_id else [], phone=phone):
                    raise _Taken
        except _Taken:
            twin = await queries.stored_request(conn, who.client_id, request.requestID)
            assert twin is not None  # it committed before our insert returned
            answer = _repeat(twin["body_hash"], twin["response"], digest)
            assert answer is not None
            return answer
    if sent:
        await sink.send(sent)
    return Answer(body, False)


def _decide(who: IntegrationPrincipal, request: CommunicationRequest, ids: list[tuple[str, str]], phone: str | None,
            seen: asyncpg.Record, response: CommunicationResponse) -> tuple[int | None, int, Entry] | None:
    """statusCode 1 (no phone for the client), 2 (no campaign; do-not-call; booked elsewhere: the response
    says), else the task to enter through the campaigns' TaskSink under the campaign's rules (calling hours,
    priority): (rules version, priority, entry)."""
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
    if seen["version_id"] is None:
        return None, 0, Entry(phone, info, now)
    config = _config(seen["version_id"], seen["config"])
    task_time = next_allowed(config, now, client_zone(config, info.get("timeZone")))
    return int(seen["version_id"]), config.priority, Entry(phone, info, task_time)


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
