"""The floor: what supervisors see, as plain JSON-able dicts, and the deltas between two versions of it.

Pure code (no I/O), used on both sides: the one floor computer (``computer.py``) builds the views from
PostgreSQL rows and its counters and diffs them into deltas; every web process (``feed.py``) applies the
same deltas to its copy, from which a socket's snapshot is served without a query.

A delta has the snapshot's shape with only what changed: ``operators`` / ``campaigns`` / ``alerts`` /
``chart`` map ids to the new item (``null`` in ``alerts``: the alert cleared), ``errors`` is the error
figure when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PARTS = ("operators", "campaigns", "alerts", "chart")
CHART_MINUTES = 60


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


@dataclass
class Counters:
    """Per operator, counted from the operator events as they are applied (and rebuilt from PostgreSQL)."""

    calls: int = 0
    in_window: int = 0
    last_pop_ms: float | None = None


REWORKING_FROM = ("READY", "PAUSED")  # states in which work on a rework card shows as IN_REWORK


def in_rework(row: Any, now_ms: int, idle_ms: int) -> bool:
    """A ready or paused operator who opened a rework card or saved its draft since their state began and
    within the idle window (the workstation marks it in operator_states; fixing the result clears it)."""
    at = ms(row["rework_at"])
    since = ms(row["state_since"])
    return (row["state"] in REWORKING_FROM and at is not None and now_ms - at <= idle_ms
            and (since is None or at >= since))


def operator_view(row: Any, counters: Counters, now_ms: int = 0, rework_idle_ms: int = 0) -> dict[str, Any]:
    """``state`` is what the supervisor sees: the operator's presence state, or IN_REWORK while they work a
    rework card (``presence`` keeps the state underneath, e.g. PAUSED with its reason, for the alerts)."""
    calls = counters.calls
    rework = in_rework(row, now_ms, rework_idle_ms)
    return {
        "id": row["id"], "login": row["login"], "name": f"{row['last_name']} {row['first_name']}",
        "teamId": row["team_id"], "teamName": row["team_name"],
        "state": "IN_REWORK" if rework else row["state"], "presence": row["state"],
        "reworkCommunicationId": row["rework_communication_id"] if rework else None,
        "reason": row["reason"],
        "since": ms(row["rework_since"] if rework and row["rework_since"] is not None else row["state_since"]),
        "presenceSince": ms(row["state_since"]),
        "pendingPause": row["pause_requested"],
        "campaignId": row["campaign_id"], "campaignName": row["campaign_name"],
        "communicationId": row["communication_id"],
        "callStartedAt": ms(row["call_started_at"]) if row["state"] in ("ON_CALL", "WRAP_UP") else None,
        "wrapUpDeadline": ms(row["wrap_up_deadline"]) if row["state"] == "WRAP_UP" else None,
        "callsToday": calls, "savedInWindowToday": counters.in_window,
        "savedInWindowPct": round(100 * counters.in_window / calls) if calls else None,
        "drafts": int(row["drafts"] or 0), "oldestDraftAt": ms(row["oldest_draft"]),
        "lastScreenPopMs": None if counters.last_pop_ms is None else round(counters.last_pop_ms),
    }


def lead_counts(rows: list[Any]) -> dict[int, dict[str, Any]]:
    """Per campaign from (campaign_id, filter, outcome, n) rows: leads imported (every outcome) and rejected
    per filter."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r["campaign_id"], {"importedToday": 0, "rejectedByFilter": {}})
        entry["importedToday"] += int(r["n"])
        if r["outcome"] == "REJECTED":
            rejected = entry["rejectedByFilter"]
            rejected[r["filter"]] = rejected.get(r["filter"], 0) + int(r["n"])
    return out


def campaign_view(row: Any, done_today: int, rate_minutes: int, rules: dict[str, Any] | None) -> dict[str, Any]:
    dials, answered, waiting = int(row["dials"]), int(row["answered"]), int(row["waiting"])
    per_minute = dials / rate_minutes
    rules = rules or {}
    return {
        "id": row["id"], "name": row["name"],
        "waiting": waiting, "due": int(row["due"]), "dialling": int(row["dialling"]), "doneToday": done_today,
        "dialsPerMinute": round(per_minute, 1),
        "answerRatePct": round(100 * answered / dials) if dials else None,
        # waiting ÷ recent dial rate; null when nothing was dialled recently (no rate to divide by)
        "runDryMinutes": round(waiting / per_minute, 1) if per_minute > 0 else None,
        "drafts": int(row["drafts"]), "oldestDraftAt": ms(row["oldest_draft"]),
        # From the campaign rules: leads through this campaign's cascade today, rejected per filter; recalls
        # scheduled (tasks queued again after a dial).
        "importedToday": rules.get("importedToday", 0), "rejectedByFilter": rules.get("rejectedByFilter", {}),
        "recalls": int(row["recalls"]),
    }


@dataclass
class Thresholds:
    long_call_ms: int
    wrap_up_ms: int
    long_pause_ms: int
    errors_per_minute: int


def alerts_for(operators: dict[str, dict[str, Any]], errors: int, errors_since: int | None, now_ms: int,
               limits: Thresholds) -> dict[str, dict[str, Any]]:
    """The alerts that hold now, each with the moment its condition began (so it does not move while it
    holds, and it clears when the condition does)."""
    out: dict[str, dict[str, Any]] = {}
    for op in operators.values():
        state = op.get("presence") or op["state"]  # a pause spent in rework is still a pause
        alert: tuple[str, int] | None = None
        if state == "ON_CALL" and op["callStartedAt"] is not None:
            alert = ("LONG_CALL", op["callStartedAt"] + limits.long_call_ms)
        elif state == "WRAP_UP" and op["wrapUpDeadline"] is not None:
            alert = ("WRAP_UP_OVERDUE", op["wrapUpDeadline"] + limits.wrap_up_ms)
        elif state == "PAUSED" and (since := op.get("presenceSince", op["since"])) is not None:
            alert = ("LONG_PAUSE", since + limits.long_pause_ms)
        if alert is not None and now_ms >= alert[1]:
            key = f"{alert[0]}:{op['id']}"
            out[key] = {"id": key, "kind": alert[0], "operatorId": op["id"], "operatorName": op["name"],
                        "since": alert[1], "reason": op["reason"]}
    if errors >= limits.errors_per_minute:
        out["ERRORS_RISING"] = {"id": "ERRORS_RISING", "kind": "ERRORS_RISING", "operatorId": None,
                                "operatorName": None, "since": errors_since or now_ms, "count": errors}
    return out


@dataclass
class Floor:
    """One version of the floor. ``diff`` answers the delta that turns ``self`` into ``new`` parts."""

    operators: dict[str, dict[str, Any]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    chart: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=lambda: {"lastMinute": 0})

    def snapshot(self) -> dict[str, Any]:
        return {"operators": self.operators, "campaigns": self.campaigns, "alerts": self.alerts,
                "chart": self.chart, "errors": self.errors}

    def apply(self, delta: dict[str, Any]) -> None:
        for part in PARTS:
            target: dict[str, Any] = getattr(self, part)
            for key, value in (delta.get(part) or {}).items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        if "errors" in delta:
            self.errors = delta["errors"]
        if len(self.chart) > CHART_MINUTES:
            for key in sorted(self.chart, key=int)[:-CHART_MINUTES]:
                del self.chart[key]

    @staticmethod
    def load(snapshot: dict[str, Any]) -> Floor:
        floor = Floor()
        floor.apply({**snapshot, "errors": snapshot.get("errors") or {"lastMinute": 0}})
        return floor


def changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], *,
            removals: bool) -> dict[str, dict[str, Any] | None]:
    """What differs between two parts: changed or added items; with ``removals``, gone ones as None."""
    out: dict[str, dict[str, Any] | None] = {k: v for k, v in new.items() if old.get(k) != v}
    if removals:
        out.update({k: None for k in old if k not in new})
    return out
