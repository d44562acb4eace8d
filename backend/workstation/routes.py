"""Seed-compatible operator API (appendices Е–Л) and the supervisors' view of operator state."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.params import JSONBody

from backend.auth.guards import FLOOR_VIEW, OPERATOR
from backend.auth.service import Principal
from backend.core.openapi import errors
from backend.core.types import DataResponse
from backend.events import queries as events
from backend.workstation import queries
from backend.workstation.card import both_spellings, communication, fmt_time
from backend.workstation.presence import Presence
from backend.workstation.schemas import (
    ArmStatus,
    CardByIdResponse,
    ClientCardResponse,
    CommunicationIdRequest,
    CommunicationListResponse,
    DraftRequest,
    DraftSavedResponse,
    HasChangesResponse,
    OperatorStateResponse,
    PauseRequest,
    SaveResultRequest,
    iso_utc,
)
from backend.workstation.service import Workstation


def _ws(request: Request[Any, Any, Any]) -> Workstation:
    workstation: Workstation = request.app.state.workstation
    return workstation


T = TypeVar("T")


def _typed(kind: type[T], data: Any) -> T:
    """An answer as its documented type: what is sent is what the OpenAPI document says."""
    return msgspec.convert({"status": "OK", "data": data}, kind)


def _presence(request: Request[Any, Any, Any]) -> Presence:
    presence: Presence = request.app.state.presence
    return presence


_NOT_FOUND = {404: "COMMUNICATION_NOT_FOUND: unknown, or another operator's (the same answer)"}
_SAVE_ERRORS = {400: "VALIDATION_ERROR (with the field), MALFORMED_JSON, or PHONE_MISMATCH (field clientPhone)",
                **_NOT_FOUND, 409: "RESULT_ALREADY_FIXED: the result is saved and cannot be changed"}


class WorkstationController(Controller):
    path = "/api/arm/v1"
    tags = ["arm"]
    guards = [OPERATOR]

    @get("/listCommunications", summary="The operator's unfinished communications: the rework list (appendix Е)")
    async def list_communications(self, request: Request[Principal, str, Any]) -> CommunicationListResponse:
        workstation = _ws(request)
        rows = await queries.rework_list(request.app.state.pool, request.user.operator_id)
        items = []
        for row in rows:
            item = communication(dict(row), workstation.zone)
            item["doId"] = row["do_id"]
            if "result" in item:  # appendix Е's upper-case keys beside those of З–К
                item["result"] = both_spellings(item["result"])
            items.append(item)
        return _typed(CommunicationListResponse, {"communications": items})

    @get("/hasChanges", summary="Polling (appendix Ж, ch. 3): true when a new call's card is ready since this "
                                "session's last poll (changes: [CLIENT_CARD_READY]), so that the getClientCard "
                                "that follows has it. Other changes travel on the WebSocket only")
    async def has_changes(self, request: Request[Principal, str, Any]) -> HasChangesResponse:
        user = request.user
        state = request.app.state
        key = f"{state.settings.redis_key_prefix}poll:{user.session_id}"
        cursor = int(await state.redis.get(key) or 0)
        rows = await events.event_types_since(state.pool, user.operator_id, cursor, user.session_id)
        changes: list[str] = []
        # The thesis' client calls getClientCard whenever hasChanges is true, and shows what it answers: only
        # a card that is there to fetch is news to it (a hang-up, a saved result, an expired window or the
        # rework list changing would have it fetch "no card" and wipe the screen or the words being typed).
        if any(row["event_type"] == "CLIENT_CARD_READY" for row in rows):
            _, current = await queries.current_communication(state.pool, user.operator_id)
            if current is not None:
                changes.append("CLIENT_CARD_READY")
        if rows:
            await state.redis.set(key, rows[-1]["seq"], ex=state.settings.session_absolute_timeout)
        await _presence(request).polled(user.operator_id)  # a polling workstation is present, as a socket is
        return _typed(HasChangesResponse, {"hasChanges": bool(changes), "changes": changes})

    @get("/getClientCard", summary="The card of the current call (appendix З), with the result deadline once "
                                   "the call has ended (for a page reloaded inside the window) and the lastSeq "
                                   "it was read at. Between calls: 200 without data (appendix З makes data "
                                   "optional), never an error",
         response_headers=[ResponseHeader(name="X-Last-Seq", documentation_only=True, description=(
             "the operator's event seq this answer was read at (also between calls): say HELLO with it"))])
    async def get_client_card(self, request: Request[Principal, str, Any]) -> Response[ClientCardResponse]:
        seq, current = await _ws(request).snapshot(request.user.operator_id)
        # lastSeq: the watermark this state was read at; a socket that says HELLO with it gets every later event.
        headers = {"X-Last-Seq": str(seq)}
        if current is None:
            return Response(ClientCardResponse("OK"), headers=headers)
        data = {k: v for k, v in current.items() if k != "communicationId"}
        data["lastSeq"] = seq
        return Response(_typed(ClientCardResponse, data), headers=headers)

    @post("/getClientCardByCommunicationId", status_code=200,
          summary="The card of one of the operator's communications (appendix Л)", responses=errors(_NOT_FOUND))
    async def get_client_card_by_id(self, request: Request[Principal, str, Any],
                                    data: JSONBody[CommunicationIdRequest]) -> CardByIdResponse:
        card = await _ws(request).open_card(data.communication_id, request.user.operator_id)
        return _typed(CardByIdResponse, {"clientCard": card})

    @post("/saveCommunicationDraft", status_code=200,
          summary="Save a draft; every version is kept (appendix И). With draftVersion (the version last seen), "
                  "a save from another version gets 409 DRAFT_VERSION_CONFLICT with the current draft",
          responses=errors({**_SAVE_ERRORS, 409: "RESULT_ALREADY_FIXED, or DRAFT_VERSION_CONFLICT (data: the "
                                                 "current draft)"}))
    async def save_draft(self, request: Request[Principal, str, Any],
                         data: JSONBody[DraftRequest]) -> DraftSavedResponse:
        details = data.communication_result.as_details() if data.communication_result else {}
        version = await _ws(request).save_draft(request.user.operator_id, data.communication_id, data.client_phone,
                                                details, data.draft_version)
        return _typed(DraftSavedResponse, {"draftVersion": version})

    @post("/saveCommunicationResult", status_code=200,
          summary="Fix the result: within the window, or later from the rework list (appendix К). Every field "
                  "of communicationResult is optional, as in the appendix. A result without a code (no "
                  "communicationResult.result) is fixed as it is (comment only) in a campaign without a result "
                  "taxonomy; in one with a taxonomy, which needs the code to decide the client's next step, its "
                  "words are kept as the draft and the communication stays open (its window, then rework)",
          responses=errors({**_SAVE_ERRORS, 400: "VALIDATION_ERROR (with the field), MALFORMED_JSON, "
                                                 "PHONE_MISMATCH (field clientPhone), or RESULT_NOT_IN_TAXONOMY "
                                                 "(a code outside the campaign's result taxonomy)"}))
    async def save_result(self, request: Request[Principal, str, Any],
                          data: JSONBody[SaveResultRequest]) -> ArmStatus:
        details = data.communication_result.as_details() if data.communication_result else {}
        operator = request.user.operator_id
        if not details.get("result") and await queries.has_result_taxonomy(request.app.state.pool,
                                                                          data.communication_id, operator):
            await _ws(request).save_draft(operator, data.communication_id, data.client_phone, details)
        else:
            await _ws(request).save_result(operator, data.communication_id, data.client_phone, details)
        return ArmStatus("OK")


    # -- presence: the operator's own availability ------------------------------------------------------

    @get("/operatorState", summary="The operator's state: OFFLINE, READY, PAUSED (reason), AWAY, ON_CALL, WRAP_UP; "
                                   "since when; a pause asked for during a call (pendingPause)")
    async def operator_state(self, request: Request[Principal, str, Any]) -> OperatorStateResponse:
        return _typed(OperatorStateResponse, await _presence(request).state(request.user.operator_id))

    @post("/setReady", status_code=200, summary="Ready for calls (from PAUSED or AWAY; during a call: cancels a "
                                                "requested pause)")
    async def set_ready(self, request: Request[Principal, str, Any]) -> OperatorStateResponse:
        return _typed(OperatorStateResponse, await _presence(request).set_ready(request.user.operator_id))

    @post("/setPause", status_code=200, summary="Pause with a reason: BREAK, TRAINING or TECHNICAL (during a call: "
                                                "from its end)")
    async def set_pause(self, request: Request[Principal, str, Any],
                        data: JSONBody[PauseRequest]) -> OperatorStateResponse:
        return _typed(OperatorStateResponse, await _presence(request).set_pause(request.user.operator_id,
                                                                                 data.reason))


class OperatorStateController(Controller):
    path = "/api/supervisor/v1"
    tags = ["supervisor"]
    guards = [FLOOR_VIEW]

    @get("/operatorStates", summary="Every operator's state: OFFLINE, READY, PAUSED (reason), AWAY, ON_CALL, "
                                    "WRAP_UP (with deadline); since when")
    async def operator_states(self, request: Request[Any, Any, Any]) -> DataResponse:
        zone = _ws(request).zone
        rows = await queries.operator_states(request.app.state.pool)
        return DataResponse([{
            "operatorId": r["operator_id"], "login": r["login"],
            "operator": {"name": r["first_name"], "lastName": r["last_name"]},
            "state": r["state"], "communicationId": r["communication_id"],
            "wrapUpDeadline": fmt_time(r["wrap_up_deadline"], zone),
            "reason": r["reason"], "since": iso_utc(r["state_since"]), "pendingPause": r["pause_requested"],
        } for r in rows])
