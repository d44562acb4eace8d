"""KPIs from sums (no division by zero) and CSV cells Excel reads as data, never as formulas."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from backend.core.csvstream import cell
from backend.core.errors import BadRequest
from backend.reports.service import filters, kpi


def test_kpis_of_nothing_are_zero_or_absent():
    k = kpi({})
    assert k["calls"] == 0 and k["avgHandleSeconds"] is None and k["conversion"] is None


def test_aht_is_average_talk_plus_average_wrap_up():
    k = kpi({"calls": 4, "ended": 4, "talk_seconds": 340, "in_window": 2, "wrapup_seconds": 90})
    assert (k["avgTalkSeconds"], k["avgWrapUpSeconds"], k["avgHandleSeconds"]) == (85.0, 45.0, 130.0)


def test_formulas_are_neutralised_and_numbers_follow_the_separator():
    assert cell("=HYPERLINK(1)", decimal_comma=False) == "'=HYPERLINK(1)"
    assert cell("-1", decimal_comma=False) == "'-1" and cell("@x", decimal_comma=True) == "'@x"
    assert cell(30.5, decimal_comma=True) == "30,5" and cell(30.5, decimal_comma=False) == "30.5"
    assert cell(True, decimal_comma=False) == "1" and cell(None, decimal_comma=False) == ""


def test_period_is_cut_in_the_zone_and_bounded():
    f = filters(ZoneInfo("Europe/Moscow"), date(2025, 3, 10), date(2025, 3, 10))
    assert f.start.isoformat() == "2025-03-09T21:00:00+00:00" and f.end.isoformat() == "2025-03-10T21:00:00+00:00"
    with pytest.raises(BadRequest):
        filters(ZoneInfo("UTC"), date(2025, 3, 10), date(2025, 3, 1))
    with pytest.raises(BadRequest):
        filters(ZoneInfo("UTC"), date(2024, 1, 1), date(2025, 3, 1))
