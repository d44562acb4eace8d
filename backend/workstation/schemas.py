"""Wire formats of seed 001 appendices Е–Л."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.core.types import Phone

CommunicationId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]


class CommunicationResult(msgspec.Struct, omit_defaults=True):
    reason: Text | None = None
    result: Text | None = None
    comment: Text | None = None

    def as_details(self) -> dict[str, str]:
        return {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}


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


class CommunicationIdRequest(msgspec.Struct, rename="camel"):
    communication_id: CommunicationId


class Hello(msgspec.Struct, rename="camel"):
    """First WebSocket message: the token travels here, never in the URL."""

    type: str
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    last_seq: Annotated[int, msgspec.Meta(ge=0)] | None = None
