"""POST /api/telephony/v1/events — call events pushed by a telephony service, signed with HMAC."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, post

from backend.auth.guards import PUBLIC
from backend.calls import signature
from backend.calls.intake import CallEventSink
from backend.calls.schemas import parse_event
from backend.core.errors import BadRequest, Conflict, ServiceUnavailable, Unauthorized
from backend.core.types import DataResponse

_AT = "at `$."


def _field_of(exc: Exception) -> str | None:
    text = str(exc)
    if _AT in text:
        return text.split(_AT, 1)[1].rstrip("`")
    if "missing required field `" in text:
        return text.split("missing required field `", 1)[1].split("`", 1)[0]
    return None


@post("/api/telephony/v1/events", opt=PUBLIC, status_code=200, tags=["telephony"],
      summary="A normalised call event, signed: X-Telephony-Timestamp and X-Telephony-Signature (HMAC-SHA256)")
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
