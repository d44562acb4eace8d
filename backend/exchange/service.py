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
from backend.exchange import queries
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


def _config(raw: Any) -> RulesConfig:
    return msgspec.convert(raw, RulesConfig) if not isinstance(raw, bytes | str) else _rules.decode(raw)


async def accept(pool: asyncpg.Pool, sink: TaskSink, who: IntegrationPrincipal,
                 request: CommunicationRequest) -> Answer:
    ids = [(c.systemCode, c.id) for c in request.clientIdList]
    digest = body_hash(request)
    reply_id = uuid.uuid4()
    sent: list[dict[str, Any]] = []
    async with pool.acquire() as conn, conn.transaction():
        if not await queries.claim_request(conn, who.client_id, request.requestID, digest, reply_id,
                                           msgspec.to_builtins(request)):
            stored = await queries.stored_request(conn, who.client_id, request.requestID)
            assert stored is not None and stored["response"] is not None  # the twin committed before we read
            if bytes(stored["body_hash"]) != digest:
                raise Conflict("This requestID was already used with a different request",
                               code="REQUEST_ID_CONFLICT", field="requestID")
            return Answer(stored["response"].encode(), True)

        response = CommunicationResponse(requestID=str(reply_id), replyUID=request.requestID, dt=_now_text(),
                                         statusCode="0")
        task_id: int | None = None
        expires_at: datetime | None = None
        campaign_id = who.campaign_id
        phone = request.phone or await queries.known_phone(conn, who.client_id, ids)
        if phone is None:
            response.statusCode = "1"
            response.statusMsg = "Клиент не найден: нет телефона ни в запросе, ни по clientIdList"
        elif campaign_id is None or not await queries.campaign_exists(conn, campaign_id):
            response.statusCode, response.statusMsg = "2", "Для клиента интеграции не настроена кампания"
        else:
            probe = cast(Any, [{"id": 0, "phone": phone, "campaign_id": campaign_id}])
            barred = await rules_queries.dial_bars(conn, probe)
            if barred:
                response.statusCode = "2"
                response.statusMsg = ("Клиент в списке «не звонить»" if barred[0] == "DO_NOT_CALL"
                                      else "Клиент закреплён за другой кампанией")
            else:
                info = {**request.clientInfo, "inn": request.inn, "ogrn": request.ogrn, "kpp": request.kpp,
                        "clientIds": {s: i for s, i in ids}}
                if request.okpo is not None:
                    info["okpo"] = request.okpo
                version = await rules_queries.latest_version(conn, campaign_id)
                now = datetime.now(UTC)
                if version is not None:
                    config = _config(version["config"])
                    task_time = next_allowed(config, now, client_zone(config, info.get("timeZone")))
                    version_id, priority = int(version["id"]), config.priority
                else:
                    task_time, version_id, priority = now, None, 0
                [task_id], sent = await sink.enter_many(conn, campaign_id, [Entry(phone, info, task_time)],
                                                        rules_version_id=version_id, priority=priority)
                if request.phone is not None:
                    await queries.remember_ids(conn, who.client_id, ids, phone)
                expires_at = now + timedelta(hours=who.task_validity_hours)
                response.taskID = str(task_id)
        body = _encode.encode(response)
        await queries.finish_request(conn, who.client_id, request.requestID, response=body.decode(),
                                     status_code=int(response.statusCode), campaign_id=campaign_id,
                                     task_id=task_id, expires_at=expires_at)
    if sent:
        await sink.send(sent)
    if task_id is not None:
        log.info("exchange: client %s request %s entered campaign %s as task %s", who.client_id,
                 request.requestID, campaign_id, task_id)
    return Answer(body, False)
