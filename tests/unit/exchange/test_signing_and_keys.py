"""The exchange's signatures, API keys, request parsing and retry delays, without I/O."""

from __future__ import annotations

import hashlib
import hmac

import msgspec
import pytest

from backend.exchange import keys, signing
from backend.exchange.delivery import retry_delay
from backend.exchange.schemas import CommunicationRequest
from backend.exchange.service import body_hash
from integrations_sim.receiver import signature_ok

SEED_REQUEST = b"""{
  "requestID": "elf73276-7fb6-4e80-85de-fd8a939998f0",
  "dt": "2023-07-27T09:27:04.953+03:00",
  "clientIdList": [
    {"systemCode": "vtb_mdm_id", "id": "123456"}, {"systemCode": "IBSO", "id": "354815252"},
    {"systemCode": "ehd_id", "id": "354815252"}, {"systemCode": "INFOR", "id": "A6UJ9A00EEG"}],
  "inn": "1200009193", "ogrn": "1231200000844", "kpp": "120001001", "okpo": "02847208"
}"""


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_like_the_telephony_webhook():
    body = b'{"taskStatus":"3"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.sign("secret", 1700000000, body) == f"sha256={expected}"
    headers = signing.headers("secret", 1700000000, body)
    assert headers == {"X-Exchange-Timestamp": "1700000000", "X-Exchange-Signature": f"sha256={expected}"}
    signing.verify("secret", "1700000000", f"sha256={expected}", body, now=1700000100, tolerance=300)
    # The receiver simulator checks it the same way (it cannot import the product).
    assert signature_ok("secret", {k.lower(): v for k, v in headers.items()}, body, 1700000100)
    assert not signature_ok("other", {k.lower(): v for k, v in headers.items()}, body, 1700000100)


@pytest.mark.parametrize(("timestamp", "signature", "body", "code"), [
    (None, "sha256=00", b"{}", "SIGNATURE_MISSING"),
    ("1700000000", None, b"{}", "SIGNATURE_MISSING"),
    ("soon", "sha256=00", b"{}", "SIGNATURE_INVALID"),
    ("1699999000", "GOOD", b"{}", "SIGNATURE_EXPIRED"),
    ("1700000000", "GOOD", b'{"changed":1}', "SIGNATURE_INVALID"),
])
def test_a_bad_signature_is_refused_with_its_code(timestamp, signature, body, code):
    if signature == "GOOD":
        signature = signing.sign("secret", int(timestamp), b"{}")
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify("secret", timestamp, signature, body, now=1700000000, tolerance=300)
    assert caught.value.code == code


def test_api_keys_are_id_dot_secret_and_only_the_hash_is_kept():
    key_id, api_key, stored = keys.new_key()
    assert api_key.startswith(key_id + ".") and keys.parse(api_key) == (key_id, api_key.split(".", 1)[1])
    secret = api_key.split(".", 1)[1]
    assert stored == hashlib.sha256(secret.encode()).digest() and secret.encode() not in stored
    assert keys.matches(secret, stored) and not keys.matches(secret[:-1] + "x", stored)
    for bad in (None, "", "ik_123.abc", key_id, f"{key_id}.{secret}.x", "Bearer " + api_key):
        assert keys.parse(bad) is None
    assert keys.new_key()[1] != api_key


def test_the_seed_request_parses_and_its_hash_ignores_layout():
    request = msgspec.json.decode(SEED_REQUEST, type=CommunicationRequest)
    assert request.requestID == "elf73276-7fb6-4e80-85de-fd8a939998f0" and request.okpo == "02847208"
    assert [c.systemCode for c in request.clientIdList] == ["vtb_mdm_id", "IBSO", "ehd_id", "INFOR"]
    compact = msgspec.json.encode(msgspec.json.decode(SEED_REQUEST))
    assert body_hash(msgspec.json.decode(compact, type=CommunicationRequest)) == body_hash(request)
    changed = msgspec.json.decode(SEED_REQUEST.replace(b"1200009193", b"1200009194"), type=CommunicationRequest)
    assert body_hash(changed) != body_hash(request)


@pytest.mark.parametrize(("patch", "field"), [
    ({"inn": "12ab"}, "inn"), ({"clientIdList": []}, "clientIdList"), ({"dt": "2023-07-27"}, "dt"),
    ({"requestID": ""}, "requestID"), ({"phone": "8999"}, "phone"), ({"requestID": "a\u0000b"}, "requestID"),
    ({"dt": "1970-01-01T00:00:00+00:00"}, "dt"),
])
def test_bad_fields_are_refused_at_the_edge(patch, field):
    body = {**msgspec.json.decode(SEED_REQUEST), **patch}
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(msgspec.json.encode(body), type=CommunicationRequest)
    assert f"$.{field}" in str(caught.value)


def test_retries_back_off_from_one_second_to_the_cap_with_jitter():
    first = [retry_delay(1, 300) for _ in range(200)]
    assert 0.75 <= min(first) and max(first) <= 1.25
    assert all(6 <= retry_delay(4, 300) <= 10 for _ in range(50))
    assert all(retry_delay(40, 300) <= 375 for _ in range(50))
    assert all(retry_delay(40, 5) <= 6.25 for _ in range(50))
