"""HTTP: the integration API (``/api/integration/v1``, integration clients by API key) and its admin side
(``/api/admin/v1/integration-clients``, ``/api/admin/v1/integration-deliveries``; integrations.manage)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, cast

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from backend.auth.audit import actor_of
from backend.auth.guards import INTEGRATIONS_MANAGE
from backend.auth.service import Principal
from backend.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX
from backend.exchange import keys, queries, service, signing
from backend.exchange.guard import INTEGRATION, principal
from backend.exchange.schemas import (
    ClientIn,
    ClientListResponse,
    ClientOut,
    ClientPatch,
    ClientResponse,
    CommunicationRequest,
    CommunicationResponse,
    DeliveryListResponse,
    DeliveryOut,
    DeliveryResponse,
    DeliveryState,
    KeyIn,
    KeyListResponse,
    KeyOut,
    KeyResponse,
    OutcomePush,
    RequestState,
)

_decode_request = msgspec.json.Decoder(CommunicationRequest)
_AT = "at `$."
_REQUEST_SCHEMA = msgspec.json.schema(CommunicationRequest)
_REQUEST_DEFS = _REQUEST_SCHEMA.get("$defs", {})
JSON = "application/json"


def _field_of(exc: Exception) -> str | None:
    text = str(exc)
    if _AT in text:
        return text.split(_AT, 1)[1].rstrip("`")
    if "missing required field `" in text:
        return text.split("missing required field `", 1)[1].split("`", 1)[0]
    return None


def _inline(schema: Any) -> Any:
    """msgspec's schema with its $defs inlined (OpenAPI components are Litestar's business)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(_REQUEST_DEFS[ref.rsplit("/", 1)[1]])
        return {k: _inline(v) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v) for v in schema]
    return schema


_REQUEST_BODY_SCHEMA = _inline(_REQUEST_SCHEMA)
_KEY_PARAM = OpenAPIParameter(
    name="X-Api-Key", param_in=ParamType.HEADER, required=True,
    schema=Schema(type=OpenAPIType.STRING), description="The integration client's API key: <keyId>.<secret>")
_SIGNATURE_PARAMS = [
    OpenAPIParameter(name=signing.TIMESTAMP, param_in=ParamType.HEADER, required=False,
                     schema=Schema(type=OpenAPIType.STRING),
                     description="Unix seconds (signed requests; required when the client's requireSignedRequests)"),
    OpenAPIParameter(name=signing.SIGNATURE, param_in=ParamType.HEADER, required=False,
                     schema=Schema(type=OpenAPIType.STRING),
                     description='"sha256=" + hex HMAC-SHA256(signing secret, timestamp + "." + body)'),
]


@dataclass
class _SignedRequestOperation(Operation):
    """The body is read raw (a signature covers its bytes), so Litestar cannot see its type: say it here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={
            JSON: OpenAPIMediaType(schema=cast(Schema, _REQUEST_BODY_SCHEMA))})
        self.parameters = [_KEY_PARAM, *_SIGNATURE_PARAMS, *(self.parameters or [])]


@dataclass
class _KeyOperation(Operation):
    def __post_init__(self) -> None:
        self.parameters = [_KEY_PARAM, *(self.parameters or [])]


AUTH_ERRORS = {
    401: "INTEGRATION_KEY_REQUIRED (no X-Api-Key; an operator's bearer token is refused with it), "
         "INTEGRATION_KEY_INVALID (unknown, revoked or wrong key), SIGNATURE_MISSING / SIGNATURE_INVALID / "
         "SIGNATURE_EXPIRED (a signed request whose signature does not hold)",
    403: "INTEGRATION_CLIENT_INACTIVE: the client is switched off",
}


async def _request_state(request: Request[Any, Any, Any], request_id: str) -> RequestState:
    who = principal(request)
    row = None if "\x00" in request_id else await queries.request_state(request.app.state.pool, who.client_id,
                                                                        request_id)
    if row is None:
        raise NotFound("No request of this client has this requestID", code="REQUEST_NOT_FOUND",
                       field="requestID")
    return RequestState(
        response=msgspec.json.decode(row["response"], type=CommunicationResponse),
        taskState=row["task_state"],
        outcome=msgspec.json.decode(row["body"], type=OutcomePush) if row["body"] is not None else None,
        delivery=row["delivery"])


class IntegrationController(Controller):
    path = "/api/integration/v1/communication-requests"
    tags = ["integration"]
    guards = [INTEGRATION]

    @post("/", status_code=200, operation_class=_SignedRequestOperation,
          summary="Ask for a call (seed 004): a task in the client's campaign; the seed's response at once. "
                  "Idempotent on requestID.",
          responses=errors({**AUTH_ERRORS,
                            400: "VALIDATION_ERROR (with the field at fault) or MALFORMED_JSON",
                            409: "REQUEST_ID_CONFLICT: this requestID was used with a different request",
                            413: "PAYLOAD_TOO_LARGE: the body exceeds MAX_REQUEST_BODY_BYTES"}))
    async def create(self, request: Request[Any, Any, Any]) -> Response[CommunicationResponse]:
        """The stored response's exact bytes are sent (a repeat gets the very same body)."""
        who = principal(request)
        body = await request.body()
        if who.require_signed_requests or request.headers.get(signing.SIGNATURE):
            try:
                signing.verify(who.signing_secret, request.headers.get(signing.TIMESTAMP),
                               request.headers.get(signing.SIGNATURE), body, now=time.time(),
                               tolerance=request.app.state.settings.telephony_webhook_tolerance)
            except signing.SignatureError as exc:
                raise Unauthorized(str(exc), code=exc.code) from None
        try:
            data = _decode_request.decode(body)
        except msgspec.ValidationError as exc:
            raise BadRequest(str(exc).split(" - at ")[0], field=_field_of(exc)) from None
        except msgspec.DecodeError:
            raise BadRequest("Request body is not valid JSON", code="MALFORMED_JSON") from None
        answer = await service.accept(request.app.state.pool, request.app.state.task_sink, who, data)
        return Response(content=cast(CommunicationResponse, answer.body), media_type=JSON, status_code=200,
                        headers={"X-Exchange-Replayed": "true"} if answer.replayed else None)

    @get("/{request_id:str}", operation_class=_KeyOperation,
         summary="A request's response, its task's state and, once closed, its outcome (for clients that poll)",
         responses=errors({**AUTH_ERRORS, 404: "REQUEST_NOT_FOUND: no request of this client has this requestID"}))
    async def state(self, request: Request[Any, Any, Any],
                    request_id: FromPath[Annotated[str, Parameter(min_length=1, max_length=200)]]) -> RequestState:
        return await _request_state(request, request_id)

    @delete("/{request_id:str}", status_code=200, operation_class=_KeyOperation,
            summary="Take a request back: its task, if still waiting or with telephony, is closed CANCELLED "
                    "(and its outcome pushed, taskStatus 5); the request's state after it",
            responses=errors({**AUTH_ERRORS, 404: "REQUEST_NOT_FOUND: no request of this client has this requestID",
                              409: "REQUEST_HAS_NO_TASK (statusCode 1 or 2), TASK_ON_CALL (the call has started: "
                                   "its outcome will be pushed)"}))
    async def cancel(self, request: Request[Any, Any, Any],
                     request_id: FromPath[Annotated[str, Parameter(min_length=1, max_length=200)]]) -> RequestState:
        who = principal(request)
        if "\x00" in request_id:
            raise NotFound("No request of this client has this requestID", code="REQUEST_NOT_FOUND",
                           field="requestID")
        state = request.app.state
        await service.cancel(state.pool, state.redis, state.settings, who, request_id)
        return await _request_state(request, request_id)


# -- admin ----------------------------------------------------------------------------------------------------

ClientIdParam = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
CLIENT_NOT_FOUND = {404: "INTEGRATION_CLIENT_NOT_FOUND: no such integration client"}
CLIENT_ERRORS = {400: "CAMPAIGN_NOT_FOUND (field campaignId), VALIDATION_ERROR",
                 409: "INTEGRATION_CLIENT_EXISTS: another client has this name"}


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _client(row: asyncpg.Record, secret: str | None = None) -> ClientOut:
    return ClientOut(id=row["id"], name=row["name"], campaign_id=row["campaign_id"], push_url=row["push_url"],
                     require_signed_requests=row["require_signed_requests"],
                     task_validity_hours=row["task_validity_hours"], active=row["active"],
                     created_at=row["created_at"], updated_at=row["updated_at"], signing_secret=secret)


def _key(row: asyncpg.Record, api_key: str | None = None) -> KeyOut:
    return KeyOut(key_id=row["key_id"], client_id=row["client_id"], campaign_id=row["campaign_id"],
                  label=row["label"], created_at=row["created_at"], revoked_at=row["revoked_at"], api_key=api_key)


def _delivery(row: asyncpg.Record) -> DeliveryOut:
    return DeliveryOut(id=row["id"], delivery_id=row["delivery_id"], client_id=row["client_id"],
                       request_id=row["request_id"], campaign_task_id=row["campaign_task_id"], state=row["state"],
                       attempts=row["attempts"], last_status=row["last_status"], last_error=row["last_error"],
                       created_at=row["created_at"], next_attempt_at=row["next_attempt_at"],
                       delivered_at=row["delivered_at"], failed_at=row["failed_at"],
                       body=msgspec.json.decode(row["body"]))


async def _check_campaign(pool: asyncpg.Pool, campaign_id: int | None) -> None:
    if campaign_id is not None and not await queries.campaign_exists(pool, campaign_id):
        raise BadRequest("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")


def _operator(request: Request[Any, Any, Any]) -> int | None:
    user = request.scope.get("user")
    return user.operator_id if isinstance(user, Principal) else None


class IntegrationClientsController(Controller):
    path = "/api/admin/v1/integration-clients"
    tags = ["admin"]
    guards = [INTEGRATIONS_MANAGE]

    @get("/", summary="Integration clients, by id, a page at a time")
    async def list_clients(
        self, request: Request[Any, Any, Any],
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 200,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> ClientListResponse:
        return ClientListResponse([_client(r) for r in await queries.list_clients(_pool(request), limit=limit,
                                                                                  offset=offset)])

    @post("/", status_code=201, responses=errors(CLIENT_ERRORS),
          summary="Create an integration client: its campaign, push URL and signing secret (shown once)")
    async def create_client(self, request: Request[Any, Any, Any], data: JSONBody[ClientIn]) -> ClientResponse:
        pool = _pool(request)
        await _check_campaign(pool, data.campaign_id)
        secret = data.signing_secret or keys.new_signing_secret()
        try:
            async with pool.acquire() as conn, conn.transaction():
                row = await queries.insert_client(
                    conn, name=data.name, campaign_id=data.campaign_id, push_url=data.push_url,
                    signing_secret=secret, require_signed_requests=data.require_signed_requests,
                    task_validity_hours=data.task_validity_hours)
                await actor_of(request).record(conn, "integration_client.create", "integration_client", row["id"],
                                               None, _audited(_client(row)))
        except asyncpg.UniqueViolationError:
            raise Conflict("An integration client with this name exists", code="INTEGRATION_CLIENT_EXISTS",
                           field="name") from None
        return ClientResponse(_client(row, secret))

    @get("/{client_id:int}", summary="One integration client", responses=errors(CLIENT_NOT_FOUND))
    async def get_client(self, request: Request[Any, Any, Any], client_id: ClientIdParam) -> ClientResponse:
        row = await queries.get_client(_pool(request), client_id)
        if row is None:
            raise NotFound("No such integration client", code="INTEGRATION_CLIENT_NOT_FOUND", field="clientId")
        return ClientResponse(_client(row))

    @patch("/{client_id:int}", responses=errors({**CLIENT_NOT_FOUND, **CLIENT_ERRORS}),
           summary="Change a client's campaign, push URL, signing secret (rotated: shown once), switch it off")
    async def update_client(self, request: Request[Any, Any, Any], client_id: ClientIdParam,
                            data: JSONBody[ClientPatch]) -> ClientResponse:
        pool = _pool(request)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items()
                   if v is not msgspec.UNSET and k != "rotate_signing_secret"}
        if data.rotate_signing_secret:
            changes["signing_secret"] = keys.new_signing_secret()
        if "campaign_id" in changes:
            await _check_campaign(pool, changes["campaign_id"])
        try:
            async with pool.acquire() as conn, conn.transaction():
                before = await queries.get_client(conn, client_id)
                row = await queries.update_client(conn, client_id, changes)
                if row is None or before is None:
                    raise NotFound("No such integration client", code="INTEGRATION_CLIENT_NOT_FOUND",
                                   field="clientId")
                after = {**_audited(_client(row)), **({"signingSecretRotated": True} if "signing_secret" in changes
                                                       else {})}
                await actor_of(request).record(conn, "integration_client.update", "integration_client", client_id,
                                               _audited(_client(before)), after)
        except asyncpg.UniqueViolationError:
            raise Conflict("An integration client with this name exists", code="INTEGRATION_CLIENT_EXISTS",
                           field="name") from None
        return ClientResponse(_client(row, changes.get("signing_secret")))

    @post("/{client_id:int}/keys", status_code=201,
          responses=errors({**CLIENT_NOT_FOUND, 400: "CAMPAIGN_NOT_FOUND (field campaignId), VALIDATION_ERROR"}),
          summary="A new API key for the client: apiKey is shown in this answer only")
    async def create_key(self, request: Request[Any, Any, Any], client_id: ClientIdParam,
                         data: JSONBody[KeyIn]) -> KeyResponse:
        pool = _pool(request)
        if await queries.get_client(pool, client_id) is None:
            raise NotFound("No such integration client", code="INTEGRATION_CLIENT_NOT_FOUND", field="clientId")
        await _check_campaign(pool, data.campaign_id)
        key_id, api_key, secret_hash = keys.new_key()
        async with pool.acquire() as conn, conn.transaction():
            row = await queries.insert_key(conn, key_id, client_id, secret_hash, data.campaign_id, data.label,
                                           _operator(request))
            await actor_of(request).record(conn, "integration_key.create", "integration_client", client_id,
                                           None, _audited(_key(row)))
        return KeyResponse(_key(row, api_key))

    @get("/{client_id:int}/keys", summary="A client's API keys (never their secrets)",
         responses=errors(CLIENT_NOT_FOUND))
    async def list_keys(self, request: Request[Any, Any, Any], client_id: ClientIdParam) -> KeyListResponse:
        pool = _pool(request)
        rows = await queries.list_keys(pool, client_id)
        if not rows and await queries.get_client(pool, client_id) is None:
            raise NotFound("No such integration client", code="INTEGRATION_CLIENT_NOT_FOUND", field="clientId")
        return KeyListResponse([_key(r) for r in rows])

    @delete("/{client_id:int}/keys/{key_id:str}", status_code=200,
            responses=errors({404: "INTEGRATION_KEY_NOT_FOUND: the client has no such key"}),
            summary="Revoke an API key (requests under it get 401 within EXCHANGE_KEY_CACHE_SECONDS)")
    async def revoke_key(self, request: Request[Any, Any, Any], client_id: ClientIdParam,
                         key_id: FromPath[Annotated[str, Parameter(min_length=1, max_length=32)]]) -> KeyResponse:
        async with _pool(request).acquire() as conn, conn.transaction():
            row = None if "\x00" in key_id else await queries.revoke_key(conn, client_id, key_id)
            if row is None:
                raise NotFound("The client has no such key", code="INTEGRATION_KEY_NOT_FOUND", field="keyId")
            await actor_of(request).record(conn, "integration_key.revoke", "integration_client", client_id,
                                           {"keyId": key_id}, _audited(_key(row)))
        return KeyResponse(_key(row))


class IntegrationDeliveriesController(Controller):
    path = "/api/admin/v1/integration-deliveries"
    tags = ["admin"]
    guards = [INTEGRATIONS_MANAGE]

    @get("/", summary="Outcome pushes, newest first; ?state=FAILED lists those given up on")
    async def list_deliveries(
        self, request: Request[Any, Any, Any],
        delivery_state: Annotated[DeliveryState | None, QueryParameter(name="state")] = None,
        client_id: Annotated[int | None, QueryParameter(name="clientId", ge=1, le=BIGINT_MAX)] = None,
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 100,
        offset: FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]] = 0,
    ) -> DeliveryListResponse:
        rows = await queries.list_deliveries(_pool(request), delivery_state, client_id, limit=limit, offset=offset)
        return DeliveryListResponse([_delivery(r) for r in rows])

    @post("/{delivery:int}/resend", status_code=200,
          responses=errors({404: "DELIVERY_NOT_FOUND: no such push",
                            409: "DELIVERY_NOT_RESENDABLE: the push is still pending, or the client has no push URL"}),
          summary="Send a failed (or delivered) push again now, with the same delivery id")
    async def resend(self, request: Request[Any, Any, Any],
                     delivery: FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]) -> DeliveryResponse:
        pool = _pool(request)
        async with pool.acquire() as conn, conn.transaction():
            before = await queries.get_delivery(conn, delivery)
            row = await queries.resend(conn, delivery)
            if row is None:
                if before is None:
                    raise NotFound("No such push", code="DELIVERY_NOT_FOUND", field="delivery")
                raise Conflict("Only a failed or delivered push can be sent again", code="DELIVERY_NOT_RESENDABLE")
            await actor_of(request).record(conn, "integration_delivery.resend", "integration_delivery", delivery,
                                           {"state": before["state"] if before else None}, {"state": row["state"]})
        return DeliveryResponse(_delivery(row))


def _audited(out: Any) -> Any:
    """What the audit keeps of an answer: its JSON, never a secret (answers built without one carry none)."""
    return msgspec.to_builtins(out)
