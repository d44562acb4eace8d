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


class SaveResultRequest(msgspec.Struct, rename="camel"):
    """Appendix К: communicationResult and each of its fields optional. A result without a code (``result``)
    is fixed as it is in a campaign without a result taxonomy and kept as the draft in one with a taxonomy
    (README: "Compatibility with the existing client")."""

    communication_id: CommunicationId
    client_phone: Phone
    communication_result: CommunicationResult | None = None


class DraftRequest(SaveRequest, rename="camel"):
    """A draft save may carry the version of the draft the client last saw (from the card or its previous
    save); one that is not the stored version is refused with 409. Without it, the last write wins."""

    draft_version: Annotated[int, msgspec.Meta(ge=0, le=BIGINT_MAX)] | None = None


class CommunicationIdRequest(msgspec.Struct, rename="camel"):
    communication_id: CommunicationId


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


# -- answers (appendices Е–Л): the served OpenAPI document is built from these, and every answer is converted
# to them before it is sent, so the document is what the server says. Lengths the appendices print (32
# characters for names) are not enforced on what we send: a longer name in the data is shown, not refused.

DATETIME_PATTERN = r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$"
DateTime = Annotated[str, msgspec.Meta(pattern=DATETIME_PATTERN, description="dd.MM.yyyy HH:mm, operator's zone",
                                       examples=["01.12.2019 12:45"])]
Date = Annotated[str, msgspec.Meta(pattern=r"^\d{2}\.\d{2}\.\d{4}$", description="dd.MM.yyyy",
                                   examples=["12.05.1995"])]
Kopecks = Annotated[int, msgspec.Meta(ge=0, description="an amount in kopecks")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
# Appendix З: endTime is required; a product without an end date says so with this moment (open-ended).
OPEN_END = "31.12.9999 23:59"


class DictionaryItem(msgspec.Struct, rename="camel"):
    dictionary_key: str
    dictionary_value: str


class FillingError(msgspec.Struct, omit_defaults=True, rename="camel"):
    error_description: str | None = None
    advice: str | None = None


class AppDocument(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    name: str
    document_dict: DictionaryItem | None = None
    status: str
    errors: list[FillingError] | None = None


class Product(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    """ProductDto (appendix З). ``doId`` is ours (the application/loan number)."""

    do_id: str | None = None
    start_time: DateTime
    end_time: Annotated[str, msgspec.Meta(pattern=DATETIME_PATTERN, description=(
        f"dd.MM.yyyy HH:mm; {OPEN_END} for a product without an end date (open-ended)"))]
    status_dict: DictionaryItem | None = None
    product_dict: DictionaryItem | None = None
    requested_amount: Kopecks | None = None
    approved_amount: Kopecks | None = None
    term: NonNegative
    term_unit_dict: DictionaryItem | None = None
    grace: NonNegative
    grace_unit_dict: DictionaryItem | None = None
    filling: list[AppDocument]
    current: bool
    retail_chain_name_dict: DictionaryItem | None = None
    device_os_dict: DictionaryItem | None = None
    credit_method_dict: DictionaryItem | None = None
    interest_rate: Annotated[int, msgspec.Meta(ge=0, description="% per day × 100")] | None = None


class ClientFullName(msgspec.Struct, omit_defaults=True, rename="camel"):
    name: str
    last_name: str
    middle_name: str | None = None


class ClientInfo(msgspec.Struct, omit_defaults=True, rename="camel"):
    phone: Phone
    full_name_ru: ClientFullName | None = None
    full_name_en: ClientFullName | None = None
    citizenship: str | None = None
    birth_date: Date | None = None
    age: Annotated[int, msgspec.Meta(description="years (appendix З: 18 to 128); computed from birthDate, "
                                                 "shown as the data says")] | None = None


class Campaign(msgspec.Struct, omit_defaults=True, rename="camel"):
    display_name: str
    description: str | None = None


class OperatorName(msgspec.Struct, rename="camel"):
    name: str
    last_name: str


class ResultBlock(msgspec.Struct, omit_defaults=True, rename="camel"):
    """CommunicationResult of appendices З/И/К/Л (``reasonDetail``: the taxonomy's level 2, ours)."""

    reason: str | None = None
    result: str | None = None
    comment: str | None = None
    reason_detail: str | None = None


class Communication(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    """CommunicationDto (appendices З, Л): the current communication and the history."""

    time: DateTime
    id: NonNegative
    campaign: Campaign | None = None
    call_phone: Phone
    result: ResultBlock | None = None
    operator: OperatorName
    draft_version: Annotated[int, msgspec.Meta(description="the stored draft's version (ours; current only)")] \
        | None = None


class ClientCard(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    client_info: ClientInfo
    current_communication: Communication
    product_list: list[Product]
    history: list[Communication]
    result_taxonomy: Annotated[list[dict[str, Any]], msgspec.Meta(
        description="the campaign's result tree (ours): statuses with key, label, outcome, children")] | None = None


class CurrentCard(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    """getClientCard's data: the card, the seq it was read at, and once the call has ended its deadline."""

    client_card: ClientCard
    last_seq: NonNegative
    result_deadline: Annotated[str, msgspec.Meta(description="ISO 8601, UTC")] | None = None
    result_deadline_epoch_ms: int | None = None
    server_time_epoch_ms: int | None = None
    window_seconds: int | None = None


class ClientCardResponse(msgspec.Struct, omit_defaults=True):
    """Appendix З: ``data`` is optional; it is absent between calls (no card, no error)."""

    status: Literal["OK"]
    data: CurrentCard | None = None


class CardData(msgspec.Struct, rename="camel"):
    client_card: ClientCard


class CardByIdResponse(msgspec.Struct):
    status: Literal["OK"]
    data: CardData


ResultMap = Annotated[dict[str, str], msgspec.Meta(description=(
    "the result as key-value pairs in both spellings: reason/result/comment (appendices З–К) and "
    "REASON/RESULT/COMMENT (appendix Е)"))]


class ListedCommunication(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    time: DateTime
    id: NonNegative
    do_id: str | None = None
    campaign: Campaign | None = None
    call_phone: Phone
    result: ResultMap | None = None
    operator: OperatorName


class CommunicationList(msgspec.Struct):
    communications: list[ListedCommunication]


class CommunicationListResponse(msgspec.Struct):
    status: Literal["OK"]
    data: CommunicationList


ChangeType = Annotated[str, msgspec.Meta(max_length=32, examples=["CLIENT_CARD_READY"])]


class Changes(msgspec.Struct, rename="camel"):
    has_changes: bool
    changes: list[ChangeType]


class HasChangesResponse(msgspec.Struct):
    status: Literal["OK"]
    data: Changes


class DraftSaved(msgspec.Struct, rename="camel"):
    draft_version: NonNegative


class DraftSavedResponse(msgspec.Struct):
    status: Literal["OK"]
    data: DraftSaved


class ArmStatus(msgspec.Struct):
    """StatusResponseDto (appendices И, К, М)."""

    status: Literal["OK"]


class OperatorState(msgspec.Struct, rename="camel"):
    state: Literal["OFFLINE", "READY", "PAUSED", "AWAY", "ON_CALL", "WRAP_UP"]
    reason: PauseReason | None
    since: Annotated[str, msgspec.Meta(description="ISO 8601, UTC")] | None
    pending_pause: PauseReason | None


class OperatorStateResponse(msgspec.Struct):
    status: Literal["OK"]
    data: OperatorState
