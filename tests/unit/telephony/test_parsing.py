from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from telephony.parsing import classify, in_order, normalize_phone, parse_events_page, parse_task, to_call_event

PAGE = (b'{"events":['
        b'{"id":8,"type":"call.ended","sessionId":"s-1","callId":"call-3","taskId":"t-2","externalId":"41",'
        b'"to":"+79991234567","at":"2026-11-20T09:46:00.500Z"},'
        b'{"id":7,"type":"call.started","sessionId":"s-1","callId":"call-3","taskId":"t-2","externalId":"41",'
        b'"to":"+79991234567","at":"2026-11-20T09:45:00.000Z"},'
        b'{"id":8,"type":"call.ended","sessionId":"s-1","callId":"call-3","taskId":"t-2","externalId":"41",'
        b'"to":"+79991234567","at":"2026-11-20T09:46:00.500Z"}],"next":8}')
POLLED = datetime(2026, 11, 20, 9, 46, 1, tzinfo=UTC)


def test_page_is_put_back_in_provider_order_without_duplicates():
    page = parse_events_page(PAGE)
    assert page.next == 8
    assert [e.id for e in in_order(page.events)] == [7, 8]


def test_normalised_call_event():
    started = in_order(parse_events_page(PAGE).events)[0]
    event = to_call_event(started, 5, POLLED)
    assert event == {
        "eventId": "provider-7", "type": "CALL_STARTED", "callId": "call-3", "operatorId": 5, "campaignTaskId": 41,
        "phone": "79991234567", "occurredAt": "2026-11-20T09:45:00+00:00", "polledAt": "2026-11-20T09:46:01+00:00"}


def test_calls_that_are_not_campaign_tasks_are_skipped():
    started = in_order(parse_events_page(PAGE).events)[0]
    assert to_call_event(msgspec.structs.replace(started, externalId=""), 5, POLLED) is None
    assert to_call_event(msgspec.structs.replace(started, to="12345"), 5, POLLED) is None


@pytest.mark.parametrize(("raw", "digits"), [
    ("+7 (999) 123-45-67", "79991234567"), ("89991234567", "79991234567"), ("79991234567", "79991234567"),
    ("+1 555 0100", None), ("", None)])
def test_phone_numbers(raw, digits):
    assert normalize_phone(raw) == digits


def test_a_bad_event_is_set_aside_and_the_rest_of_the_page_kept():
    good = (b'{"id":9,"type":"call.started","sessionId":"s-1","callId":"call-4","taskId":"t-3","externalId":"42",'
            b'"to":"+79991234567","at":"2026-11-20T09:47:00.000Z"}')
    page = parse_events_page(b'{"events":[{"id":"x"},{"id":8,"type":"call.transferred"},' + good + b',[1]],"next":9}')
    assert [e.id for e in page.events] == [9]
    assert [(r.id, r.raw) for r in page.rejected] == [(None, b'{"id":"x"}'), (8, b'{"id":8,"type":"call.transferred"}'),
                                                      (None, b"[1]")]
    assert all(r.reason for r in page.rejected)


def test_malformed_pages_and_tasks_are_refused():
    with pytest.raises(msgspec.ValidationError):
        parse_events_page(b'{"events":{},"next":0}')
    with pytest.raises(msgspec.DecodeError):
        parse_events_page(b'<html>502 Bad Gateway</html>')
    with pytest.raises(msgspec.ValidationError):
        parse_task(b'{"taskId":"t-1","status":"LOST"}')
    assert parse_task(b'{"taskId":"t-1","status":"NEW","externalId":"4"}').status == "NEW"


@pytest.mark.parametrize(("status", "code", "verdict"), [
    (None, None, "retry"), (500, None, "retry"), (503, "UNAVAILABLE", "retry"), (429, None, "retry"),
    (408, None, "retry"), (401, "SESSION_EXPIRED", "session_expired"), (401, "BAD_KEY", "fatal"),
    (400, "BAD_PHONE", "fatal"), (404, "NO_SUCH_TASK", "fatal"), (409, "ALREADY_CALLED", "fatal")])
def test_one_place_decides_retry_or_fatal(status, code, verdict):
    assert classify(status, code) == verdict


def test_an_id_less_bad_event_listed_again_is_recorded_once():
    from telephony.context import Active

    active = Active(1, "s-1", cursor=10, token=1)
    page = parse_events_page(b'{"events":[{"id":9,"type":"x"},{"id":11,"type":"x"},[1,2,3]],"next":11}')
    assert [(r.id, r.raw) for r in active.unseen_rejects(page.rejected)] == [(11, b'{"id":11,"type":"x"}'),
                                                                           (None, b"[1,2,3]")]
    active.cursor = 11
    assert active.unseen_rejects(parse_events_page(b'{"events":[[1,2,3]],"next":11}').rejected) == []
