"""The pure parts of campaign rules: calling hours, phone templates (RE2: linear time), outcomes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from backend.core.errors import BadRequest
from backend.rules.config import RulesConfig
from backend.rules.hours import next_allowed
from backend.rules.outcomes import next_step, outcome_of
from backend.rules.templates import TemplateError, compile_templates, matching

MSK = ZoneInfo("Europe/Moscow")


def cfg(**extra) -> RulesConfig:
    return msgspec.convert({"data-streams": ["S"], **extra}, RulesConfig)


def test_next_allowed_moves_into_the_window_and_skips_days_off():
    c = cfg(**{"calling-hours": {"from": "09:00", "to": "21:00"}, "calling-days": [1, 2, 3, 4, 5]})
    friday_late = datetime(2026, 11, 27, 22, 30, tzinfo=MSK)  # a Friday
    assert next_allowed(c, friday_late) == datetime(2026, 11, 30, 9, 0, tzinfo=MSK).astimezone(UTC)  # Monday
    inside = datetime(2026, 11, 30, 12, 0, tzinfo=MSK)
    assert next_allowed(c, inside) == inside.astimezone(UTC)
    early = datetime(2026, 11, 30, 7, 0, tzinfo=MSK)
    assert next_allowed(c, early) == datetime(2026, 11, 30, 9, 0, tzinfo=MSK).astimezone(UTC)
    # the client's zone where known: 08:00 in Yekaterinburg is 06:00 in Moscow
    yekb = ZoneInfo("Asia/Yekaterinburg")
    assert next_allowed(c, early, yekb) == datetime(2026, 11, 30, 9, 0, tzinfo=yekb).astimezone(UTC)


def test_templates_are_full_match_and_linear_time():
    program = compile_templates([r"7\d{5}4\d{4}", r"7\d{5}3\d{4}"])
    assert matching(program, ["79995441234", "79995431234", "79995411234", "799954412345"]) == [
        True, True, False, False]
    evil = compile_templates([r"(a+)+b"])  # catastrophic for a backtracking engine
    started = time.perf_counter()
    assert matching(evil, ["a" * 100_000]) == [False]
    assert time.perf_counter() - started < 0.5
    with pytest.raises(TemplateError) as bad:
        compile_templates(["7\\d+", "(a)\\1"])
    assert bad.value.index == 1


TREE = [{"key": "OK", "outcome": "SUCCESS"},
        {"key": "NO", "outcome": "NO_ANSWER", "children": [{"key": "BUSY", "outcome": "BUSY"}, {"key": "SILENT"}]}]


def test_outcomes_and_next_steps():
    c = cfg(**{"result-taxonomy": TREE, "max-attempts": 3, "calling-hours": {"from": "00:00", "to": "23:59"}})
    assert outcome_of(c, {"result": "OK"}) == "SUCCESS"
    assert outcome_of(c, {"result": "NO", "reason": "BUSY"}) == "BUSY"
    assert outcome_of(c, {"result": "NO", "reason": "SILENT"}) == "NO_ANSWER"
    with pytest.raises(BadRequest) as bad:
        outcome_of(c, {"result": "OK", "reason": "SILENT"})
    assert bad.value.field == "communicationResult.reason"
    assert outcome_of(cfg(), {"result": "anything"}) is None
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    busy = next_step(c, "BUSY", 1, now, MSK)
    assert busy.state == "NEW" and (busy.task_time - now).total_seconds() == 15 * 60
    assert next_step(c, "NO_ANSWER", 3, now, MSK).close_reason == "MAX_ATTEMPTS"
    assert next_step(c, "DO_NOT_CALL", 1, now, MSK).do_not_call
    assert next_step(c, "REFUSAL", 1, now, MSK).close_reason == "REFUSAL"


def test_do_not_call_and_booked_are_always_applied():
    assert cfg(**{"filters-order": ["AGE"]}).effective_order() == ["AGE", "DO_NOT_CALL", "BOOKED"]
    assert cfg(**{"filters-order": ["BOOKED", "AGE", "DO_NOT_CALL"]}).effective_order() == [
        "BOOKED", "AGE", "DO_NOT_CALL"]


def test_dnc_csv_with_a_bare_carriage_return_is_a_400_not_a_500():
    """Found by the fuzz test: a CR inside an unquoted field raised csv.Error (500)."""
    import pytest as _pytest

    from backend.core.errors import BadRequest
    from backend.rules.service import parse_dnc_csv

    assert [row[0] for row in parse_dnc_csv("79990000001,,x\r79990000002,,y")] == ["79990000001", "79990000002"]
    with _pytest.raises(BadRequest):
        parse_dnc_csv("=\u00bc\rJ\x17<")
