from __future__ import annotations

import msgspec
import pytest

from backend.calls.schemas import parse_event
from backend.calls.signature import SignatureError, sign, verify

RAW = (b'{"eventId":"e-1","type":"CALL_ENDED","callId":"c-1","operatorId":3,"campaignTaskId":9,'
       b'"phone":"79990001122","occurredAt":"2026-11-20T09:45:00.123Z","polledAt":"2026-11-20T09:45:00.200Z",'
       b'"vendorExtra":{"ignored":true}}')


def test_parse_a_raw_event():
    event = parse_event(RAW)
    assert (event.event_id, event.type, event.operator_id, event.campaign_task_id) == ("e-1", "CALL_ENDED", 3, 9)
    assert event.occurred_at.microsecond == 123000 and event.appended_at is None


@pytest.mark.parametrize(("raw", "path"), [
    (RAW.replace(b'"79990001122"', b'"+7999"'), "$.phone"),
    (RAW.replace(b'"CALL_ENDED"', b'"CALL_PAUSED"'), "$.type"),
    (RAW.replace(b'"operatorId":3', b'"operatorId":0'), "$.operatorId"),
    (RAW.replace(b'"occurredAt":"2026-11-20T09:45:00.123Z",', b""), "occurredAt"),
])
def test_bad_events_name_the_field(raw, path):
    with pytest.raises(msgspec.ValidationError) as info:
        parse_event(raw)
    assert path in str(info.value)


def test_signature_round_trip_and_refusals():
    body = b'{"x":1}'
    verify("k" * 32, "1000", sign("k" * 32, 1000, body), body, now=1010, tolerance=300)
    cases = [
        (None, sign("k" * 32, 1000, body), body, 1000, "SIGNATURE_MISSING"),
        ("1000", sign("k" * 32, 1000, body), body + b" ", 1000, "SIGNATURE_INVALID"),
        ("1000", sign("x" * 32, 1000, body), body, 1000, "SIGNATURE_INVALID"),
        ("1000", sign("k" * 32, 1000, body), body, 1000 + 301, "SIGNATURE_EXPIRED"),
        ("soon", sign("k" * 32, 1000, body), body, 1000, "SIGNATURE_INVALID"),
    ]
    for ts, signature, payload, now, code in cases:
        with pytest.raises(SignatureError) as info:
            verify("k" * 32, ts, signature, payload, now=now, tolerance=300)
        assert info.value.code == code
