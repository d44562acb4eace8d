"""The normalised call event: what the telephony process appends to the stream and what a push-style
telephony service posts. Parsing is pure (no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from backend.core.types import Ident, Phone


class CallEvent(msgspec.Struct, rename="camel", frozen=True):
    event_id: Ident
    type: Literal["CALL_STARTED", "CALL_ENDED"]
    call_id: Ident
    operator_id: Annotated[int, msgspec.Meta(ge=1)]
    campaign_task_id: Annotated[int, msgspec.Meta(ge=1)]
    phone: Phone
    occurred_at: datetime  # when the provider says it happened
    polled_at: datetime | None = None  # when the telephony process read it from the provider
    appended_at: datetime | None = None  # when it was put on the stream


_decoder = msgspec.json.Decoder(CallEvent)


def parse_event(raw: bytes | str) -> CallEvent:
    """Raises msgspec.ValidationError / DecodeError with the JSON path of the bad field."""
    return _decoder.decode(raw)


def event_payload(event: CallEvent) -> dict[str, object]:
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
