"""Wire formats of seed 001 appendices Е–Л."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from backend.core.types import BIGINT_MAX, Phone, Str

CommunicationId = Annotated[int, msgspec.Meta(ge=0, le=BIGINT_MAX)]
Text = Annotated[Str, msgspec.Meta(max_length=4000)]


class CommunicationResult(msgspec.Struct, omit_defaults=True, rename={"reason_detail": "reasonDetail"}):
    """The seed's block (reason, result, comment). In a campaign with a result taxonomy (rules), ``result`` is
    the status key, ``reason`` the level-1 key and ``reasonDetail`` (our addition) the level-2 key."""

    reason: Text | None = None
    result: Text | None = None
    comment: Text | None = None
    reason_detail: Text | None = None

    def as_details(self) -> dict[str, str]:
        out = {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}
        if "reason_detail" in out:
            out["reasonDetail"] = out.pop("reason_detail")
        return out


class SaveRequest(msgspec.Struct, rename="camel"):
    communication_id: CommunicationId
    client_phone: Phone
    communication_result: CommunicationResult | None = None


# The seed's appendix К marks no field of the result block required, but a fixed result without one means
# nothing and the server has always refused it (400, field communicationResult.result): the schema says so.
class FinalResult(CommunicationResult, kw_only=True):
    """The result block of saveCommunicationResult: `result` is required."""

    result: Annotated[Text, msgspec.Meta(min_length=1)]


class SaveResultRequest(msgspec.Struct, rename="camel"):
    communication_id: CommunicationId
    client_phone: Phone
    communication_result: FinalResult


class DraftRequest(SaveRequest, rename="camel"):
    """A draft save may carry the version of the draft the client last saw (from the card or its previous
    save); one that is not the stored version is refused with 409. Without it, the last write wins."""

    draft_version: Annotated[int, msgspec.Meta(ge=0, le=BIGINT_MAX)] | None = None


class CommunicationIdRequest(msgspec.Struct, rename="camel"):
    communication_id: CommunicationId


class Hello(msgspec.Struct, rename="camel"):
    """First WebSocket message: the token travels here, never in the URL."""

    type: str
    token: Annotated[Str, msgspec.Meta(min_length=1, max_length=2048)]
    last_seq: Annotated[int, msgspec.Meta(ge=0)] | None = None


PauseReason = Literal["BREAK", "TRAINING", "TECHNICAL"]


class PauseRequest(msgspec.Struct):
    reason: PauseReason


def iso_utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def operator_state_data(row: Any) -> dict[str, Any]:
    """The OPERATOR_STATE event and the presence endpoints' answer: the state, the pause reason, when the
    state began, and a pause asked for during a call (it begins when the call and its window are over)."""
    if row is None:
        return {"state": "OFFLINE", "reason": None, "since": None, "pendingPause": None}
    return {"state": row["state"], "reason": row["reason"], "since": iso_utc(row["state_since"]),
            "pendingPause": row["pause_requested"]}
