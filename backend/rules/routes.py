"""Admin API of campaign rules: a campaign's rules and their versions, what its cascade decided (counts per
filter per import, runs, paths), the do-not-call list and bookings. Supervisors read; admins change."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from backend.auth.audit import actor_of
from backend.auth.guards import (
    BOOKINGS_MANAGE,
    BOOKINGS_VIEW,
    DNC_MANAGE,
    DNC_VIEW,
    RULES_MANAGE,
    RULES_VIEW,
)
from backend.auth.service import Principal
from backend.core.errors import NotFound
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX, DataResponse
from backend.rules import queries, service
from backend.rules.config import RulesConfig
from backend.rules.schemas import (
    BookingIn,
    DncCsvIn,
    DncIn,
    PathOutcome,
    PhoneIn,
    booking_out,
    dnc_out,
    version_out,
)

CampaignId = FromPath[Annotated[int, Parameter(ge=1, le=BIGINT_MAX)]]
Limit = FromQuery[Annotated[int, Parameter(ge=1, le=1000)]]
Offset = FromQuery[Annotated[int, Parameter(ge=0, le=BIGINT_MAX)]]
NOT_FOUND = {404: "CAMPAIGN_NOT_FOUND: no such campaign"}


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _campaign(pool: asyncpg.Pool, campaign_id: int) -> None:
    if not await queries.campaign_exists(pool, campaign_id):
        raise NotFound("No such campaign", code="CAMPAIGN_NOT_FOUND", field="campaignId")


class CampaignRulesController(Controller):
    path = "/api/admin/v1/campaigns/{campaign_id:int}"
    tags = ["admin"]

    @get("/rules", guards=[RULES_VIEW], responses=errors({404: "CAMPAIGN_NOT_FOUND, or RULES_NOT_SET"}),
         summary="The campaign's rules in force (its latest version)")
    async def get_rules(self, request: Request[Any, Any, Any], campaign_id: CampaignId) -> DataResponse:
        pool = _pool(request)
        row = await queries.latest_version(pool, campaign_id)
        if row is None:
            await _campaign(pool, campaign_id)
            raise NotFound("The campaign has no rules yet", code="RULES_NOT_SET", field="campaignId")
        return DataResponse(version_out(row))

    @put("/rules", guards=[RULES_MANAGE], responses=errors(NOT_FOUND),
         summary="Save the campaign's rules as a new version (seed field names: data-streams, filters-order, "
                 "ml-skip-error ...); it applies to leads decided from now on, never to tasks already made")
    async def put_rules(self, request: Request[Principal, Any, Any], campaign_id: CampaignId,
                        data: JSONBody[RulesConfig]) -> DataResponse:
        row = await service.save_config(_pool(request), campaign_id, data, request.user.operator_id,
                                        actor_of(request))
        return DataResponse(version_out(row))

    @get("/rules/versions", guards=[RULES_VIEW], responses=errors(NOT_FOUND),
         summary="Every version of the campaign's rules, newest first")
    async def versions(self, request: Request[Any, Any, Any], campaign_id: CampaignId, limit: Limit = 100,
                       offset: Offset = 0) -> DataResponse:
        pool = _pool(request)
        rows = await queries.list_versions(pool, campaign_id, limit=limit, offset=offset)
        if not rows:
            await _campaign(pool, campaign_id)
        return DataResponse([version_out(r) for r in rows])

    @get("/cascade/counts", guards=[RULES_VIEW], responses=errors(NOT_FOUND),
         summary="Leads per filter and outcome (PASSED, REJECTED, ERROR) per import; ?importId= narrows")
    async def cascade_counts(self, request: Request[Any, Any, Any], campaign_id: CampaignId,
                             import_id: Annotated[int | None, QueryParameter(name="importId", ge=1, le=BIGINT_MAX)]
                             = None) -> DataResponse:
        pool = _pool(request)
        await _campaign(pool, campaign_id)
        rows = await queries.counts(pool, campaign_id, import_id)
        out: dict[int, dict[str, dict[str, int]]] = {}
        for r in rows:
            out.setdefault(r["import_id"], {}).setdefault(r["filter"], {})[r["outcome"]] = int(r["n"])
        return DataResponse([{"importId": k, "filters": v} for k, v in out.items()])

    @get("/cascade/runs", guards=[RULES_VIEW], responses=errors(NOT_FOUND),
         summary="The cascade's runs over imports: state, progress, counts, a waiting run's last error")
    async def cascade_runs(self, request: Request[Any, Any, Any], campaign_id: CampaignId, limit: Limit = 100,
                           offset: Offset = 0) -> DataResponse:
        pool = _pool(request)
        await _campaign(pool, campaign_id)
        rows = await queries.runs(pool, campaign_id, limit=limit, offset=offset)
        return DataResponse([{
            "importId": r["import_id"], "rulesVersionId": r["rules_version_id"], "state": r["state"],
            "cursorLine": r["cursor_line"], "passed": r["passed"], "rejected": r["rejected"],
            "errored": r["errored"], "attempts": r["attempts"], "nextAttemptAt": r["next_attempt_at"],
            "lastError": r["last_error"], "createdAt": r["created_at"], "finishedAt": r["finished_at"],
        } for r in rows])

    @get("/cascade/paths", guards=[RULES_VIEW], responses=errors(NOT_FOUND),
         summary="Each lead's path through the cascade for one import, in line order: PASSED (with its task), "
                 "REJECTED by a filter (reason, value) or ERROR; ?outcome= filters")
    async def cascade_paths(
        self, request: Request[Any, Any, Any], campaign_id: CampaignId,
        import_id: Annotated[int, QueryParameter(name="importId", ge=1, le=BIGINT_MAX)],
        outcome: Annotated[PathOutcome | None, QueryParameter(name="outcome")] = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> DataResponse:
        pool = _pool(request)
        await _campaign(pool, campaign_id)
        rows = await queries.paths(pool, campaign_id, import_id, outcome=outcome, limit=limit, offset=offset)
        return DataResponse([{
            "lineNo": r["line_no"], "applicationNo": r["application_no"], "phone": r["phone"],
            "outcome": r["outcome"], "filter": r["filter"], "reason": r["reason"], "value": r["value"],
            "rulesVersionId": r["rules_version_id"], "campaignTaskId": r["campaign_task_id"],
            "decidedAt": r["decided_at"],
        } for r in rows])


class DoNotCallController(Controller):
    path = "/api/admin/v1/do-not-call"
    tags = ["admin"]

    @get("/", guards=[DNC_VIEW], summary="The do-not-call list by phone, a page at a time")
    async def list_entries(self, request: Request[Any, Any, Any], limit: Limit = 200,
                           offset: Offset = 0) -> DataResponse:
        rows = await queries.list_dnc(_pool(request), limit=limit, offset=offset)
        return DataResponse([dnc_out(r) for r in rows])

    @post("/", guards=[DNC_MANAGE], status_code=200,
          summary="Put a phone on the list: until a time, or permanently (no until); a permanent entry is never "
                  "shortened by a temporary one. The phone's open tasks close (DO_NOT_CALL), and one already queued "
                  "at the provider is cancelled there")
    async def put_entry(self, request: Request[Principal, Any, Any], data: JSONBody[DncIn]) -> DataResponse:
        state = request.app.state
        row = await service.put_dnc(state.pool, data.phone, data.until, data.reason, data.source, actor_of(request),
                                    state.redis, state.settings)
        return DataResponse(dnc_out(row))

    @post("/find", guards=[DNC_VIEW], status_code=200,
          responses=errors({404: "DNC_NOT_FOUND: the phone is not on the list"}), summary="One phone's entry")
    async def find_entry(self, request: Request[Any, Any, Any], data: JSONBody[PhoneIn]) -> DataResponse:
        row = await queries.get_dnc(_pool(request), data.phone)
        if row is None:
            raise NotFound("The phone is not on the do-not-call list", code="DNC_NOT_FOUND", field="phone")
        return DataResponse(dnc_out(row))

    @post("/delete", guards=[DNC_MANAGE], status_code=200,
          responses=errors({404: "DNC_NOT_FOUND: the phone is not on the list"}), summary="Take a phone off the list")
    async def delete_entry(self, request: Request[Any, Any, Any], data: JSONBody[PhoneIn]) -> DataResponse:
        await service.delete_dnc(_pool(request), data.phone, actor_of(request))
        return DataResponse({"deleted": True})

    @post("/import", guards=[DNC_MANAGE], status_code=200, request_max_body_size=64 * 1024 * 1024 + 4096,
          responses=errors({400: "DNC_CSV_INVALID: a bad line (data.line; field phone, until or reason); nothing "
                                 "was stored"}),
          summary="Bulk import from CSV text (phone,until,reason; header optional; until empty = permanent); "
                  "all or nothing")
    async def import_csv(self, request: Request[Principal, Any, Any], data: JSONBody[DncCsvIn]) -> DataResponse:
        state = request.app.state
        stored = await service.import_dnc(state.pool, data.csv, request.user.operator_id, actor_of(request),
                                          state.redis, state.settings)
        return DataResponse({"stored": stored})


class BookingsController(Controller):
    path = "/api/admin/v1/bookings"
    tags = ["admin"]

    @get("/", guards=[BOOKINGS_VIEW], summary="Bookings by phone, a page at a time")
    async def list_bookings(self, request: Request[Any, Any, Any], limit: Limit = 200,
                            offset: Offset = 0) -> DataResponse:
        rows = await queries.list_bookings(_pool(request), limit=limit, offset=offset)
        return DataResponse([booking_out(r) for r in rows])

    @post("/", guards=[BOOKINGS_MANAGE], status_code=200, responses=errors(NOT_FOUND),
          summary="Reserve a client (phone) for a campaign until a time; other campaigns skip it (BOOKED)")
    async def put_booking(self, request: Request[Principal, Any, Any], data: JSONBody[BookingIn]) -> DataResponse:
        row = await service.put_booking(_pool(request), data.phone, data.campaign_id, data.until, data.reason,
                                        actor_of(request))
        return DataResponse(booking_out(row))

    @post("/find", guards=[BOOKINGS_VIEW], status_code=200,
          responses=errors({404: "BOOKING_NOT_FOUND: the phone is not booked"}), summary="One phone's booking")
    async def find_booking(self, request: Request[Any, Any, Any], data: JSONBody[PhoneIn]) -> DataResponse:
        row = await queries.get_booking(_pool(request), data.phone)
        if row is None:
            raise NotFound("The phone is not booked", code="BOOKING_NOT_FOUND", field="phone")
        return DataResponse(booking_out(row))

    @post("/delete", guards=[BOOKINGS_MANAGE], status_code=200,
          responses=errors({404: "BOOKING_NOT_FOUND: the phone is not booked"}), summary="Cancel a booking")
    async def delete_booking(self, request: Request[Any, Any, Any], data: JSONBody[PhoneIn]) -> DataResponse:
        await service.delete_booking(_pool(request), data.phone, actor_of(request))
        return DataResponse({"deleted": True})
