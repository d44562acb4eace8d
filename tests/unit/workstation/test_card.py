from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from backend.workstation.card import age_on, build_card, client_info, fmt_time, parse_birth_date, result_of

MSK = ZoneInfo("Europe/Moscow")


def test_times_are_shown_in_the_operators_zone():
    assert fmt_time(datetime(2026, 11, 20, 21, 30, tzinfo=UTC), MSK) == "21.11.2026 00:30"
    assert fmt_time(None, MSK) is None


def test_birth_dates_and_age():
    assert parse_birth_date("12.05.1995") == date(1995, 5, 12)
    assert parse_birth_date("1995-05-12") == date(1995, 5, 12)
    assert parse_birth_date("31.02.1995") is None and parse_birth_date(None) is None
    assert age_on(date(1995, 5, 12), date(2026, 5, 11)) == 30
    assert age_on(date(1995, 5, 12), date(2026, 5, 12)) == 31


def test_client_info_from_nested_or_flat_lead_fields():
    nested = client_info("79990001122", {"fullNameRu": {"name": "Анна", "lastName": "Иванова"}}, date(2026, 1, 1))
    assert nested == {"phone": "79990001122", "fullNameRu": {"name": "Анна", "lastName": "Иванова"}}
    flat = client_info("79990001122", {"lastName": "БЕКИШОВ", "firstName": "АЙДАРБЕК", "middleName": "К",
                                       "firstNameEn": "AIDARBEK", "lastNameEn": "BEKISHOV", "citizenship": "KGZ",
                                       "birthDate": "01.02.1995"}, date(2026, 1, 1))
    assert flat["fullNameRu"] == {"name": "АЙДАРБЕК", "lastName": "БЕКИШОВ", "middleName": "К"}
    assert flat["fullNameEn"] == {"name": "AIDARBEK", "lastName": "BEKISHOV"}
    assert flat["birthDate"] == "01.02.1995" and flat["age"] == 30 and flat["citizenship"] == "KGZ"
    partial = client_info("79990001122", {"firstName": "Без фамилии"}, date(2026, 1, 1))
    assert "fullNameRu" not in partial  # the DTO requires both name and lastName


def test_result_keeps_only_the_seed_keys():
    assert result_of({"result": "Да", "comment": None, "other": "x"}) == {"result": "Да"}
    assert result_of({}) is None


def test_build_card_from_rows_with_aggregated_json():
    row = {
        "id": 5, "state": "NEW", "result_details": {}, "created_at": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        "call_started_at": datetime(2026, 11, 20, 9, 45, tzinfo=UTC), "operator_id": 1, "phone": "79990001122",
        "client_info": {}, "campaign_name": "Доведи до займа", "campaign_description": None,
        "first_name": "Елена", "last_name": "Абросимова",
        "products": [{"do_id": "1", "start_time": "2026-11-20T09:45:00+00:00", "end_time": None, "term": 21,
                      "grace": 0, "is_current": True, "filling": [], "requested_amount": 1200000,
                      "approved_amount": None, "interest_rate": None, "status": {"dictionaryKey": "a"},
                      "product": "not a dict item"}],
        "history": [{"id": 4, "created_at": "2026-11-19T10:00:00+00:00", "call_started_at": None,
                     "result_details": {"result": "Отказ"}, "phone": "79990001122", "campaign_name": "Другая",
                     "campaign_description": "Скрипт", "first_name": "Иван", "last_name": "Петров"}],
    }
    card = build_card(row, MSK, date(2026, 11, 20))
    assert card["currentCommunication"] == {
        "time": "20.11.2026 12:45", "id": 5, "campaign": {"displayName": "Доведи до займа"},
        "callPhone": "79990001122", "operator": {"name": "Елена", "lastName": "Абросимова"}}
    product = card["productList"][0]
    assert product["startTime"] == "20.11.2026 12:45" and product["endTime"] == "31.12.9999 23:59"
    assert product["requestedAmount"] == 1200000 and "approvedAmount" not in product
    assert product["statusDict"] == {"dictionaryKey": "a", "dictionaryValue": ""}
    assert "productDict" not in product
    assert card["history"][0]["time"] == "19.11.2026 13:00"
    assert card["history"][0]["result"] == {"result": "Отказ"}


def test_the_current_communication_carries_its_draft_version():
    row = {"id": 7, "state": "NEW", "result_details": {"comment": "черновик"}, "draft_version": 3,
           "created_at": datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "call_started_at": None, "operator_id": 1,
           "phone": "79990001122", "client_info": {}, "campaign_name": "Доведи до займа",
           "first_name": "Елена", "last_name": "Абросимова", "products": [], "history": []}
    current = build_card(row, MSK, date(2026, 11, 20))["currentCommunication"]
    assert current["draftVersion"] == 3 and current["result"] == {"comment": "черновик"}
