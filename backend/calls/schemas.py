"""The normalised call event: what the telephony process appends to the stream and what a push-style
telephony service posts. Parsing is pure (no I/O)."""

from __future__ import annotations

from typing import Literal

import msgspec

from backend.core.types import AwareDatetime, Id, Ident, Phone, check_datetime


class CallEvent(msgspec.Struct, rename="camel", frozen=True):
    event_id: Ident
    type: Literal["CALL_STARTED", "CALL_ENDED"]
    call_id: Ident
    operator_id: Id
    campaign_task_id: Id
    phone: Phone
    occurred_at: AwareDatetime  # when the provider says it happened
    polled_at: AwareDatetime | None = None  # when the telephony process read it from the provider
    appended_at: AwareDatetime | None = None  # when it was put on the stream

    def __post_init__(self) -> None:
        check_datetime(self.occurred_at, "occurredAt")
        check_datetime(self.polled_at, "polledAt")
        check_datetime(self.appended_at, "appendedAt")


_decoder = msgspec.json.Decoder(CallEvent)


def parse_event(raw: bytes | str) -> CallEvent:
    """Raises msgspec.ValidationError / DecodeError with the JSON path of the bad field."""
    return _decoder.decode(raw)


def event_payload(event: CallEvent) -> dict[str, object]:
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]
