"""POST /api/telephony/v1/events — call events pushed by a telephony service, signed with HMAC."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Request, post
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter

from backend.auth.guards import PUBLIC
from backend.calls import signature
from backend.calls.intake import CallEventSink
from backend.calls.schemas import CallEvent, parse_event
from backend.core.errors import BadRequest, Conflict, ServiceUnavailable, Unauthorized
from backend.core.openapi import errors
from backend.core.types import DataResponse

_AT = "at `$."


def _field_of(exc: Exception) -> str | None:
    text = str(exc)
    if _AT in text:
        return text.split(_AT, 1)[1].rstrip("`")
    if "missing required field `" in text:
        return text.split("missing required field `", 1)[1].split("`", 1)[0]
    return None


_EVENT_SCHEMA = msgspec.json.schema(CallEvent)["$defs"]["CallEvent"]


@dataclass
class _SignedEventOperation(Operation):
    """The body is read raw (the signature covers its bytes), so Litestar cannot see its type: say it here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, content={
            "application/json": OpenAPIMediaType(schema=cast(Schema, _EVENT_SCHEMA))})
        self.parameters = [
            OpenAPIParameter(name="X-Telephony-Timestamp", param_in=ParamType.HEADER, required=True,
                             schema=Schema(type=OpenAPIType.STRING, pattern=r"^[0-9]{1,12}$"),
                             description="Unix seconds; within TELEPHONY_WEBHOOK_TOLERANCE of the server's clock"),
            OpenAPIParameter(name="X-Telephony-Signature", param_in=ParamType.HEADER, required=True,
                             schema=Schema(type=OpenAPIType.STRING, pattern=r"^sha256=[0-9a-f]{64}$"),
                             description='"sha256=" + hex HMAC-SHA256(TELEPHONY_WEBHOOK_SECRET, '
                                         'timestamp + "." + body)'),
        ]


@post("/api/telephony/v1/events", opt=PUBLIC, status_code=200, tags=["telephony"],
      summary="A normalised call event, signed: X-Telephony-Timestamp and X-Telephony-Signature (HMAC-SHA256)",
      operation_class=_SignedEventOperation, responses=errors({
          400: "VALIDATION_ERROR (with the field) or MALFORMED_JSON; UNKNOWN_CAMPAIGN_TASK, UNKNOWN_OPERATOR, "
               "PHONE_MISMATCH",
          401: "SIGNATURE_MISSING, SIGNATURE_INVALID or SIGNATURE_EXPIRED",
          409: "EVENT_ID_CONFLICT: this eventId was used by a different event (not applied)",
          413: "PAYLOAD_TOO_LARGE",
          503: "TELEPHONY_PUSH_DISABLED (TELEPHONY_WEBHOOK_SECRET unset) or SERVICE_UNAVAILABLE"}))
async def post_call_event(request: Request[Any, Any, Any]) -> DataResponse:
    settings = request.app.state.settings
    if not settings.telephony_webhook_secret:
        raise ServiceUnavailable("Telephony push is not configured (TELEPHONY_WEBHOOK_SECRET)",
                                 code="TELEPHONY_PUSH_DISABLED")
    body = await request.body()
    try:
        signature.verify(settings.telephony_webhook_secret, request.headers.get("x-telephony-timestamp"),
                         request.headers.get("x-telephony-signature"), body, now=time.time(),
                         tolerance=settings.telephony_webhook_tolerance)
    except signature.SignatureError as exc:
        raise Unauthorized(str(exc), code=exc.code) from None
    try:
        event = parse_event(body)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
        raise BadRequest(str(exc).split(" - at ")[0], field=_field_of(exc)) from None
    except msgspec.DecodeError:
        raise BadRequest("Request body is not valid JSON", code="MALFORMED_JSON") from None
    sink: CallEventSink = request.app.state.call_sink
    outcome = await sink.apply_call_event(event)
    if outcome.status == "CONFLICT":
        raise Conflict("This eventId was already used by a different event; it was not applied",
                       code="EVENT_ID_CONFLICT", field="eventId")
    return DataResponse({"outcome": outcome.status, "communicationId": outcome.communication_id})
