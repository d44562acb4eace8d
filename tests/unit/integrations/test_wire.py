"""The services' answers, as raw bytes, become the checks the cascade records (no I/O)."""

from __future__ import annotations

import msgspec
import pytest

from backend.integrations.api import Check, IntegrationLead
from backend.integrations.wire import (
    BadResponse,
    blacklist_query,
    blacklist_requests,
    client_data_requests,
    ml_requests,
    offer_requests,
    parse_blacklist,
    parse_client_data,
    parse_ml,
    parse_offers,
)

A = IntegrationLead(101, "79130000001", "pioneer", device_id="dev-a", face_id="f1", passport_series="1234",
                    passport_number="AM1")
B = IntegrationLead(102, "79130000002", "repeater")
C = IntegrationLead(103, "79130000001", "repeater", device_id="dev-c")  # same phone as A


def test_blacklist_query_is_the_thesis_search_with_each_phone_and_device_once():
    query = msgspec.json.decode(blacklist_query([A, B, C]))
    assert query == {"query": {"$or": [{"phone": "79130000001"}, {"device_id": "dev-a"}, {"phone": "79130000002"},
                                       {"device_id": "dev-c"}]}}


def test_blacklisted_phone_or_device_rejects_with_the_record_id():
    body = (b'{"records":[{"id":"bl-7","phone":"79130000001","device_id":null,"reason":"FRAUD","until":null},'
            b'{"id":"bl-9","device_id":"dev-c","reason":"DEBT","until":"2027-01-01"}],"total":2}')
    a, b, c = parse_blacklist(body, [A, B, C])
    assert a == Check("REJECT", "BLACK_LISTED", "bl-7", {"listReason": "FRAUD", "until": None})
    assert b == Check("PASS")
    assert c.outcome == "REJECT" and c.value == "bl-7"  # phone matched first
    only_device = parse_blacklist(body, [IntegrationLead(1, "79990000000", "pioneer", device_id="dev-c")])
    assert only_device[0].value == "bl-9"


def test_no_records_pass_everyone():
    assert parse_blacklist(b'{"records":[]}', [A, B]) == [Check("PASS"), Check("PASS")]


@pytest.mark.parametrize("body", [b"<html>502</html>", b'{"records": "nope"}', b'{"records":[{"phone":"7"}]}',
                                  b"null", b'{"records":[', b""])
def test_garbage_from_blacklist_is_a_bad_response(body):
    with pytest.raises(BadResponse):
        parse_blacklist(body, [A])


def test_ml_batch_matches_answers_by_application_not_by_order():
    body = (b'{"results":[{"applicationNo":102,"model":"FACE","score":0.12,"decision":"REJECT"},'
            b'{"applicationNo":101,"model":"FACE","score":0.91,"decision":"APPROVE"}]}')
    a, b = parse_ml(body, [A, B], batch=True)
    assert a == Check("PASS", data={"score": 0.91})
    assert b == Check("REJECT", "ML_SCORE_LOW", "0.12")


def test_ml_lead_missing_from_a_batch_answer_is_an_error_for_that_lead_only():
    body = b'{"results":[{"applicationNo":101,"score":0.9,"decision":"APPROVE"}]}'
    a, b = parse_ml(body, [A, B], batch=True)
    assert a.outcome == "PASS"
    assert b.outcome == "ERROR" and b.reason == "BAD_RESPONSE"


@pytest.mark.parametrize("body", [b'{"applicationNo":101,"score":0.9,"decision":"MAYBE"}',
                                  b'{"applicationNo":"x","score":0.9,"decision":"APPROVE"}',
                                  b'{"applicationNo":101,"sco'])
def test_ml_garbage_is_a_bad_response(body):
    with pytest.raises(BadResponse):
        parse_ml(body, [A], batch=False)


def test_ml_per_lead_and_batch_requests():
    single = ml_requests("DEVICE", [A, B], 0)
    assert [r.path for r in single] == ["/ml/api/v1/models/DEVICE/score"] * 2
    assert msgspec.json.decode(single[0].body) == {"applicationNo": 101, "phone": "79130000001", "deviceId": "dev-a",
                                                    "faceId": "f1", "passportSeries": "1234", "passportNumber": "AM1"}
    assert msgspec.json.decode(single[1].body) == {"applicationNo": 102, "phone": "79130000002"}
    batches = ml_requests("PHONE", [A, B, C], 2)
    assert [(r.path, len(r.leads)) for r in batches] == [("/ml/api/v1/models/PHONE/score-batch", 2),
                                                        ("/ml/api/v1/models/PHONE/score-batch", 1)]
    assert [i["applicationNo"] for i in msgspec.json.decode(batches[0].body)["items"]] == [101, 102]
    answer = b'{"applicationNo":102,"score":0.2,"decision":"REJECT"}'
    assert single[1].parse(answer) == [Check("REJECT", "ML_SCORE_LOW", "0.2")]


def test_products_keep_only_the_campaigns_products():
    body = (b'{"results":[{"applicationNo":101,"borrowerType":"pioneer","products":[{"code":"express",'
            b'"minAmount":100000,"maxAmount":3000000,"ratePercent":292.0,"termDays":30}]},'
            b'{"applicationNo":102,"borrowerType":"repeater","products":[{"code":"express"},{"code":"consumer"}]}]}')
    a, b = parse_offers(body, [A, B], ("consumer",), batch=True)
    assert a == Check("REJECT", "NO_PRODUCTS", "express")
    assert b.outcome == "PASS"
    assert b.data == {"borrowerType": "repeater", "products": [
        {"code": "consumer", "minAmount": None, "maxAmount": None, "ratePercent": None, "termDays": None}]}
    every = parse_offers(body, [A], (), batch=True)[0]
    assert every.outcome == "PASS" and every.data is not None and every.data["products"][0]["code"] == "express"


def test_no_products_at_all_rejects():
    assert parse_offers(b'{"applicationNo":101,"products":[]}', [A], (), batch=False) == [
        Check("REJECT", "NO_PRODUCTS", None)]


def test_offer_request_carries_client_type_and_amount():
    lead = IntegrationLead(7, "79130000007", "repeater", product_type="express", requested_amount=2_500_000)
    (request,) = offer_requests([lead], ["express"], 0)
    assert request.path == "/products/api/v1/offers"
    assert msgspec.json.decode(request.body) == {"applicationNo": 7, "phone": "79130000007", "clientType": "repeater",
                                                 "productType": "express", "requestedAmount": 2_500_000}


def test_client_data_enriches_and_never_rejects():
    body = (b'{"results":[{"applicationNo":101,"found":true,"client":{"segment":"A","incomeBand":7}},'
            b'{"applicationNo":102,"found":false,"client":null}]}')
    assert parse_client_data(body, [A, B], batch=True) == [Check("PASS", data={"segment": "A", "incomeBand": 7}),
                                                           Check("PASS")]
    with pytest.raises(BadResponse):
        parse_client_data(b'{"applicationNo":101,"found":"yes"}', [A], batch=False)


def test_client_data_lookup_sends_phone_device_and_passport():
    (request,) = client_data_requests([A], 100)
    assert request.path == "/client-data/api/v1/clients/lookup-batch"
    assert msgspec.json.decode(request.body) == {"items": [{"applicationNo": 101, "phone": "79130000001",
                                                            "deviceId": "dev-a", "passportSeries": "1234",
                                                            "passportNumber": "AM1"}]}


def test_blacklist_per_lead_mode_asks_one_lead_per_search():
    requests = blacklist_requests([A, B], 0)
    assert [len(r.leads) for r in requests] == [1, 1]
    assert msgspec.json.decode(requests[0].body) == {"query": {"$or": [{"phone": "79130000001"},
                                                                       {"device_id": "dev-a"}]}}
