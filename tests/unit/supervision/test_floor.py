"""The floor's pure parts: alerts hold from the moment their condition began; deltas carry only changes."""

from __future__ import annotations

from backend.supervision.floor import Floor, Thresholds, alerts_for, changes

LIMITS = Thresholds(long_call_ms=600_000, wrap_up_ms=0, long_pause_ms=900_000, errors_per_minute=10)


def op(**kw):
    base = {"id": 7, "name": "Иванова Анна", "state": "READY", "reason": None, "since": 0, "callStartedAt": None,
            "wrapUpDeadline": None}
    return {"7": {**base, **kw}}


def test_each_alert_begins_when_its_threshold_is_crossed_and_not_before():
    call = op(state="ON_CALL", callStartedAt=1_000)
    assert alerts_for(call, 0, None, 600_999, LIMITS) == {}
    assert alerts_for(call, 0, None, 601_000, LIMITS)["LONG_CALL:7"]["since"] == 601_000
    wrap = op(state="WRAP_UP", callStartedAt=1_000, wrapUpDeadline=70_000)
    assert alerts_for(wrap, 0, None, 69_999, LIMITS) == {}
    assert alerts_for(wrap, 0, None, 70_000, LIMITS)["WRAP_UP_OVERDUE:7"]["since"] == 70_000
    pause = op(state="PAUSED", reason="BREAK", since=5_000)
    alert = alerts_for(pause, 0, None, 905_000, LIMITS)["LONG_PAUSE:7"]
    assert alert["reason"] == "BREAK" and alert["operatorName"] == "Иванова Анна"
    assert alerts_for(op(), 0, None, 10**12, LIMITS) == {}  # READY for ever is no alert


def test_errors_alert_holds_its_start_while_the_count_stays_high():
    assert "ERRORS_RISING" not in alerts_for({}, 9, None, 1_000, LIMITS)
    assert alerts_for({}, 10, 500, 1_000, LIMITS)["ERRORS_RISING"] == {
        "id": "ERRORS_RISING", "kind": "ERRORS_RISING", "operatorId": None, "operatorName": None, "since": 500,
        "count": 10}


def test_a_delta_carries_only_what_changed_and_applying_it_gives_the_new_floor():
    old = {"1": {"state": "READY"}, "2": {"state": "PAUSED"}}
    new = {"1": {"state": "READY"}, "3": {"state": "ON_CALL"}}
    assert changes(old, new, removals=True) == {"3": {"state": "ON_CALL"}, "2": None}
    assert changes(old, new, removals=False) == {"3": {"state": "ON_CALL"}}
    floor = Floor.load({"operators": old, "alerts": {"A": {"id": "A"}}})
    floor.apply({"operators": {"2": {"state": "READY"}}, "alerts": {"A": None}, "errors": {"lastMinute": 3}})
    assert floor.operators == {"1": {"state": "READY"}, "2": {"state": "READY"}}
    assert floor.alerts == {} and floor.errors == {"lastMinute": 3}
    floor.apply({"chart": {str(m): {"minute": m} for m in range(100)}})
    assert len(floor.chart) == 60 and "99" in floor.chart and "39" not in floor.chart


def _row(**kw):
    from datetime import UTC, datetime

    base = {"id": 7, "login": "anna", "first_name": "Анна", "last_name": "Иванова", "team_id": 3,
            "team_name": "Север", "state": "READY", "reason": None,
            "state_since": datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "pause_requested": None,
            "campaign_id": None, "campaign_name": None, "communication_id": None, "call_started_at": None,
            "wrap_up_deadline": None, "drafts": 1, "oldest_draft": None, "rework_communication_id": None,
            "rework_since": None, "rework_at": None}
    return {**base, **kw}


def test_an_operator_working_a_rework_card_is_in_rework_until_idle_or_their_state_moves_on():
    from datetime import UTC, datetime

    from backend.supervision.floor import Counters, operator_view

    began = datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
    at_ms = int(began.timestamp() * 1000)
    working = _row(rework_communication_id=42, rework_since=began, rework_at=began)
    view = operator_view(working, Counters(), at_ms + 1_000, 300_000)
    assert view["state"] == "IN_REWORK" and view["presence"] == "READY" and view["reworkCommunicationId"] == 42
    assert view["since"] == at_ms and view["teamId"] == 3 and view["teamName"] == "Север"
    assert operator_view(working, Counters(), at_ms + 300_001, 300_000)["state"] == "READY"  # idle too long
    # A call (or any state change) after the last touch of the card: no longer in rework.
    later = _row(state="ON_CALL", state_since=datetime(2026, 1, 1, 10, 6, tzinfo=UTC), rework_communication_id=42,
                 rework_since=began, rework_at=began)
    assert operator_view(later, Counters(), at_ms + 61_000, 300_000)["state"] == "ON_CALL"
    after_call = {**later, "state": "READY", "state_since": datetime(2026, 1, 1, 10, 7, tzinfo=UTC)}
    assert operator_view(after_call, Counters(), at_ms + 121_000, 300_000)["state"] == "READY"


def test_a_pause_spent_in_rework_still_raises_the_long_pause_alert():
    from datetime import UTC, datetime

    from backend.supervision.floor import Counters, operator_view

    paused = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    row = _row(state="PAUSED", reason="BREAK", state_since=paused, rework_communication_id=42,
               rework_since=datetime(2026, 1, 1, 10, 10, tzinfo=UTC),
               rework_at=datetime(2026, 1, 1, 10, 14, tzinfo=UTC))
    start = int(paused.timestamp() * 1000)
    view = operator_view(row, Counters(), start + 900_000, 300_000)
    assert view["state"] == "IN_REWORK" and view["presence"] == "PAUSED"
    assert alerts_for({"7": view}, 0, None, start + 900_000, LIMITS)["LONG_PAUSE:7"]["since"] == start + 900_000
