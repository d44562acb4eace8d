"""The reports API (analysts, supervisors, admins): KPIs grouped by operator / campaign / team / day / hour,
the outcome distribution, the best-time-to-call heatmap, contactability per client, campaign figures (attempts
per task, leads per filter), streaming CSV export and the daily summaries. And the operator's own statistics
(operators only, their own). Every report takes the same filters: from, to (days, OPERATOR_TIMEZONE, inclusive;
default today), campaignId, operatorId, teamId, outcome."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery, Parameter, QueryParameter
from litestar.response import Stream

from backend.auth.guards import ANALYST, OPERATOR, REPORTS_EXPORT
from backend.auth.service import Principal
from backend.core.errors import BadRequest, NotFound
from backend.core.openapi import errors
from backend.core.types import BIGINT_MAX, Str
from backend.reports import queries, service
from backend.reports.export import stream_csv

Group = Literal["operator", "campaign", "team", "day", "hour", "hourOfDay"]
Outcome = Literal["SUCCESS", "REFUSAL", "NO_ANSWER", "BUSY", "DROPPED", "DO_NOT_CALL"]
Kind = Literal["communications", "kpis", "contactability"]
_EARLIEST, _LATEST = date(2000, 1, 1), date(2099, 12, 31)
_PERIOD_ERRORS = {400: "VALIDATION_ERROR (field from/to: not a YYYY-MM-DD day in 2000–2099), "
                       "REPORT_PERIOD_INVALID (to before from) or REPORT_PERIOD_TOO_LONG (more than 400 days)"}

_DAY = "a day YYYY-MM-DD in OPERATOR_TIMEZONE (inclusive; default today)"
From = Annotated[Str | None, QueryParameter(name="from", max_length=10, description=_DAY)]
To = Annotated[Str | None, QueryParameter(name="to", max_length=10, description=_DAY)]
CampaignId = Annotated[int | None, QueryParameter(name="campaignId", ge=1, le=BIGINT_MAX)]
OperatorId = Annotated[int | None, QueryParameter(name="operatorId", ge=1, le=BIGINT_MAX)]
TeamId = Annotated[int | None, QueryParameter(name="teamId", ge=1, le=BIGINT_MAX)]


class Report(msgspec.Struct):
    data: dict[str, Any]


class ReportList(msgspec.Struct):
    data: list[dict[str, Any]]


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field} must be a day YYYY-MM-DD", code="VALIDATION_ERROR", field=field) from None
    if not _EARLIEST <= day <= _LATEST:
        raise BadRequest(f"{field} must be a day between 2000 and 2099", code="VALIDATION_ERROR", field=field)
    return day


def _zone(request: Request[Any, Any, Any]) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.operator_timezone)


def _pool(request: Request[Any, Any, Any]) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.report_pool
    return pool


def _filters(request: Request[Any, Any, Any], day_from: str | None, day_to: str | None, campaign_id: int | None,
             operator_id: int | None, team_id: int | None, outcome: str | None) -> service.Filters:
    return service.filters(_zone(request), _day(day_from, "from"), _day(day_to, "to"), campaign_id=campaign_id,
                           operator_id=operator_id, team_id=team_id, outcome=outcome)


class ReportsController(Controller):
    path = "/api/reports/v1"
    tags = ["reports"]
    guards = [ANALYST]

    @get("/filters", summary="What the filters offer: campaigns, teams and operators (id and name)")
    async def filters(self, request: Request[Any, Any, Any]) -> Report:
        async with _pool(request).acquire() as conn:
            found = await queries.choices(conn)
        return Report({
            "campaigns": [{"id": r["id"], "name": r["name"]} for r in found["campaigns"]],
            "teams": [{"id": r["id"], "name": r["name"]} for r in found["teams"]],
            "operators": [{"id": r["id"], "name": f"{r['last_name']} {r['first_name']} ({r['login']})",
                           "teamId": r["team_id"]} for r in found["operators"]],
        })

    @get("/kpis", responses=errors(_PERIOD_ERRORS),
         summary="KPIs per group (operator, campaign, team, day, hour, hourOfDay) and in total, over the period")
    async def kpis(self, request: Request[Any, Any, Any],
                   day_from: From = None,
                   day_to: To = None,
                   group_by: Annotated[Group, QueryParameter(name="groupBy")] = "day",
                   campaign_id: CampaignId = None,
                   operator_id: OperatorId = None,
                   team_id: TeamId = None,
                   outcome: FromQuery[Outcome | None] = None) -> Report:
        f = _filters(request, day_from, day_to, campaign_id, operator_id, team_id, outcome)
        return Report(await service.kpi_report(_pool(request), f, group_by))

    @get("/outcomes", responses=errors(_PERIOD_ERRORS),
         summary="Calls by the result taxonomy: status key and outcome")
    async def outcomes(self, request: Request[Any, Any, Any],
                       day_from: From = None,
                       day_to: To = None,
                       campaign_id: CampaignId = None,
                       operator_id: OperatorId = None,
                       team_id: TeamId = None,
                       outcome: FromQuery[Outcome | None] = None) -> ReportList:
        f = _filters(request, day_from, day_to, campaign_id, operator_id, team_id, outcome)
        return ReportList(await service.outcome_report(_pool(request), f))

    @get("/heatmap", responses=errors(_PERIOD_ERRORS),
         summary="Best time to call: attempts, contacts and successes by weekday × hour (OPERATOR_TIMEZONE), "
                 "optionally for one client segment")
    async def heatmap(self, request: Request[Any, Any, Any],
                      day_from: From = None,
                      day_to: To = None,
                      campaign_id: CampaignId = None,
                      operator_id: OperatorId = None,
                      team_id: TeamId = None,
                      segment: FromQuery[Annotated[Str | None, Parameter(max_length=64)]] = None) -> Report:
        f = _filters(request, day_from, day_to, campaign_id, operator_id, team_id, None)
        return Report(await service.heatmap_report(_pool(request), f, segment))

    @get("/contactability", responses=errors(_PERIOD_ERRORS),
         summary="Per client (phone): answered ÷ attempts over the period, most attempted first")
    async def contactability(self, request: Request[Any, Any, Any],
                             day_from: From = None,
                             day_to: To = None,
                             campaign_id: CampaignId = None,
                             operator_id: OperatorId = None,
                             team_id: TeamId = None,
                             limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 100) -> ReportList:
        f = _filters(request, day_from, day_to, campaign_id, operator_id, team_id, None)
        return ReportList(await service.contactability_report(_pool(request), f, limit))

    @get("/campaign", responses=errors(_PERIOD_ERRORS),
         summary="Attempts per task (tasks closed in the period) and leads considered / passed / rejected per "
                 "filter by the cascade (runs finished in the period)")
    async def campaign(self, request: Request[Any, Any, Any],
                       day_from: From = None,
                       day_to: To = None,
                       campaign_id: CampaignId = None) -> Report:
        f = _filters(request, day_from, day_to, campaign_id, None, None, None)
        return Report(await service.campaign_report(_pool(request), f))

    @get("/export.csv", media_type="text/csv", responses=errors(_PERIOD_ERRORS), guards=[REPORTS_EXPORT],
         summary="CSV export, streamed: kind=communications (one row per call), kpis (per groupBy) or "
                 "contactability; UTF-8 with BOM; sep=; for Excel in a comma-decimal locale")
    async def export(self, request: Request[Any, Any, Any],
                     kind: FromQuery[Kind] = "communications",
                     sep: FromQuery[Literal[",", ";"]] = ",",
                     day_from: From = None,
                     day_to: To = None,
                     group_by: Annotated[Group, QueryParameter(name="groupBy")] = "day",
                     campaign_id: CampaignId = None,
                     operator_id: OperatorId = None,
                     team_id: TeamId = None,
                     outcome: FromQuery[Outcome | None] = None) -> Stream:
        f = _filters(request, day_from, day_to, campaign_id, operator_id, team_id, outcome)
        name = f"{kind}-{f.day_from.isoformat()}-{f.day_to.isoformat()}.csv"
        return Stream(stream_csv(_pool(request), kind, f, sep, group_by), media_type="text/csv; charset=utf-8",
                      headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @get("/daily-summaries", summary="The saved daily summaries, newest first (day, when made and sent)")
    async def summaries(self, request: Request[Any, Any, Any],
                        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 60) -> ReportList:
        rows = await queries.list_summaries(request.app.state.pool, limit)
        return ReportList([{"day": r["day"].isoformat(), "createdAt": r["created_at"].isoformat(),
                            "sentAt": r["sent_at"].isoformat() if r["sent_at"] else None,
                            "attempts": r["attempts"], "lastError": r["last_error"]} for r in rows])

    @get("/daily-summaries/{day:str}", responses=errors({
        400: "VALIDATION_ERROR (field day: not a YYYY-MM-DD day in 2000–2099)",
        404: "SUMMARY_NOT_FOUND: no summary was made for that day"}),
         summary="One day's summary: the payload the e-mail was made of")
    async def summary(self, request: Request[Any, Any, Any],
                      day: Annotated[str, Parameter(max_length=10)]) -> Report:
        parsed = _day(day, "day")
        row = await queries.get_summary(request.app.state.pool, parsed)
        if row is None:
            raise NotFound("No summary for that day", code="SUMMARY_NOT_FOUND", field="day")
        return Report({"day": row["day"].isoformat(), "createdAt": row["created_at"].isoformat(),
                       "sentAt": row["sent_at"].isoformat() if row["sent_at"] else None,
                       "attempts": row["attempts"], "lastError": row["last_error"], "payload": row["payload"]})


class OwnStatsController(Controller):
    path = "/api/arm/v1"
    tags = ["arm"]
    guards = [OPERATOR]

    @get("/myStats", summary="The operator's own statistics: today's and this week's calls, average talk time, "
                             "results saved in the window, rework pending (only the caller's, from the token)")
    async def my_stats(self, request: Request[Principal, Any, Any]) -> OwnStatsResponse:
        stats = await service.own_stats(request.app.state.pool, request.user.operator_id, _zone(request))
        return OwnStatsResponse(msgspec.convert(stats, OwnStats))


class OwnFigures(msgspec.Struct, rename="camel"):
    """One period's figures: calls handled, average talk time of the ended ones (None: none ended), results
    saved inside the window and their share of the calls (None: no calls)."""

    calls: int
    avg_talk_seconds: float | None
    in_window: int
    in_window_rate: float | None


class OwnStats(msgspec.Struct, rename="camel"):
    """The operator's own figures (``arm`` answers are typed: the served schema is the contract, issue 20)."""

    today: OwnFigures
    week: OwnFigures
    rework_pending: int
    day: str
    week_from: str
    time_zone: str


class OwnStatsResponse(msgspec.Struct):
    data: OwnStats
    status: str = "OK"
