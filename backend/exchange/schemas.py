"""Wire formats of the exchange, in seed 004's field names (requestID, clientIdList, replyUID, statusCode ...),
and of its admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from backend.core.types import AwareDatetime, Phone, Str, check_datetime, check_json

RequestId = Annotated[Str, Meta(min_length=1, max_length=200, description="The client's unique id of the request")]
Code = Annotated[Str, Meta(min_length=1, max_length=64)]
ExternalId = Annotated[Str, Meta(min_length=1, max_length=200)]
Digits = Annotated[str, Meta(pattern=r"^[0-9]{1,20}$")]


class ClientId(msgspec.Struct, forbid_unknown_fields=True):
    """One identifier of the client in one outside system (vtb_mdm_id, ehd_id, IBSO, INFOR ...)."""

    systemCode: Code
    id: ExternalId


class CommunicationRequest(msgspec.Struct, kw_only=True):
    """Seed 004's request. ``phone`` and ``clientInfo`` are ours (optional): the number to call and what the
    operator's card shows. Without ``phone`` the client must be known by one of ``clientIdList`` from an
    earlier request that carried one, else the answer is statusCode 1 (client not found)."""

    requestID: RequestId
    dt: AwareDatetime
    clientIdList: Annotated[list[ClientId], Meta(min_length=1, max_length=20)]
    inn: Digits
    ogrn: Digits
    kpp: Digits
    okpo: Digits | None = None
    phone: Phone | None = None
    clientInfo: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        check_datetime(self.dt, "dt")
        check_json(self.clientInfo, "clientInfo")
        if len(msgspec.json.encode(self.clientInfo)) > 16384:
            raise ValueError("clientInfo is larger than 16 KiB - at `$.clientInfo`")


class CommunicationResponse(msgspec.Struct, omit_defaults=True):
    """Seed 004's response: ``requestID`` is ours (the id of this exchange, repeated in the push),
    ``replyUID`` the client's requestID; statusCode "0" task created, "1" client not found, "2" other error."""

    requestID: str
    replyUID: str
    dt: str
    statusCode: Literal["0", "1", "2"]
    taskID: str | None = None
    statusMsg: str | None = None


class OutcomePush(msgspec.Struct):
    """Seed 004's push with the outcome (what is POSTed to the client's push URL and what polling shows once
    the task is closed). taskStatus "3" processed (an operator saved a result), "5" not processed."""

    requestID: str
    replyUID: str
    dt: str
    statusCode: str
    taskID: str
    taskStatus: Literal["3", "5"]
    taskCloseDate: str
    taskExecType: str
    taskExecDescr: str
    firstLevelClientReaction: str
    secondLevelClientReaction: str
    thirdLevelClientReaction: str
    closeReason: str | None


class RequestState(msgspec.Struct, omit_defaults=True):
    """GET …/communication-requests/{requestID}: the response given, the task's state now, and the outcome
    (the push body) once the task is closed."""

    response: CommunicationResponse
    taskState: Literal["NEW", "IN_PROGRESS", "DONE"] | None = None
    outcome: OutcomePush | None = None
    delivery: Literal["PENDING", "DELIVERED", "FAILED", "SKIPPED"] | None = None


# -- admin ---------------------------------------------------------------------------------------------

Name = Annotated[Str, Meta(min_length=1, max_length=64)]
PushUrl = Annotated[str, Meta(pattern=r"^https?://[^\s\x00]+$", max_length=2048)]
Secret = Annotated[str, Meta(min_length=32, max_length=256, pattern=r"^[\x21-\x7e]+$")]
Hours = Annotated[int, Meta(ge=1, le=8760)]
CampaignRef = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Label = Annotated[Str, Meta(max_length=200)]


class ClientIn(msgspec.Struct, rename="camel", kw_only=True):
    name: Name
    campaign_id: CampaignRef | None = None
    push_url: PushUrl | None = None
    signing_secret: Secret | None = None  # generated when absent; shown once
    require_signed_requests: bool = False
    task_validity_hours: Hours = 72


class ClientPatch(msgspec.Struct, rename="camel", kw_only=True):
    """Only the fields present change; "pushUrl": null stops pushes (polling only); rotateSigningSecret
    makes a new secret, shown once in the answer."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    campaign_id: CampaignRef | msgspec.UnsetType | None = msgspec.UNSET
    push_url: PushUrl | msgspec.UnsetType | None = msgspec.UNSET
    signing_secret: Secret | msgspec.UnsetType = msgspec.UNSET
    rotate_signing_secret: bool = False
    require_signed_requests: bool | msgspec.UnsetType = msgspec.UNSET
    task_validity_hours: Hours | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class ClientOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    name: str
    campaign_id: int | None
    push_url: str | None
    require_signed_requests: bool
    task_validity_hours: int
    active: bool
    created_at: datetime
    updated_at: datetime
    signing_secret: str | None = None  # only in the answer that made it


class KeyIn(msgspec.Struct, rename="camel", kw_only=True):
    campaign_id: CampaignRef | None = None  # requests under this key enter this campaign (else the client's)
    label: Label | None = None


class KeyOut(msgspec.Struct, rename="camel", omit_defaults=True):
    key_id: str
    client_id: int
    campaign_id: int | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    api_key: str | None = None  # "<keyId>.<secret>", only in the answer that made it


class DeliveryOut(msgspec.Struct, rename="camel"):
    id: int
    delivery_id: str
    client_id: int
    request_id: str
    campaign_task_id: int
    state: Literal["PENDING", "DELIVERED", "FAILED", "SKIPPED"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    body: dict[str, Any]


class ClientResponse(msgspec.Struct):
    data: ClientOut
    status: str = "OK"


class ClientListResponse(msgspec.Struct):
    data: list[ClientOut]
    status: str = "OK"


class KeyResponse(msgspec.Struct):
    data: KeyOut
    status: str = "OK"


class KeyListResponse(msgspec.Struct):
    data: list[KeyOut]
    status: str = "OK"


class DeliveryResponse(msgspec.Struct):
    data: DeliveryOut
    status: str = "OK"


class DeliveryListResponse(msgspec.Struct):
    data: list[DeliveryOut]
    status: str = "OK"


DeliveryState = Literal["PENDING", "DELIVERED", "FAILED", "SKIPPED"]
