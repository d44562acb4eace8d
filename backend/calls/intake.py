"""What call intake hands a call event to. Intake (the stream consumer and the signed webhook) owns this
interface; the workstation implements it and the process wiring passes it in, so intake never imports
the layer above it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from backend.calls.schemas import CallEvent


@dataclass(frozen=True)
class Outcome:
    status: Literal["APPLIED", "DUPLICATE", "IGNORED", "CONFLICT"]
    communication_id: int | None = None


class CallEventSink(Protocol):
    async def apply_call_event(self, event: CallEvent) -> Outcome:
        """Apply one event exactly once (idempotent by ``event.event_id``); raise AppError if it is invalid."""
        ...
