"""The rules admin API: a campaign's rules are checked on save (400 naming the field, nothing stored), saved as
versions; the do-not-call list by entry and by CSV (all or nothing); bookings. Supervisors read, admins
change; phones travel in bodies, never in URLs."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, login
from tests.integration.rules.helpers import phone, stream


async def _campaign(http, base, admin) -> int:
    from tests.harness import unique

    created = await http.post(f"{base}/api/admin/v1/campaigns", json={"name": unique("r ")}, headers=admin)
    return int(created.json()["data"]["id"])


@pytest.mark.parametrize(("patch", "field"), [
    ({"data-streams": []}, "data-streams"),
    ({"filters-order": ["AGE", "AGE"]}, "filters-order[1]"),
    ({"filters-order": ["NO_SUCH_FILTER"]}, "filters-order[0]"),
    ({"phone-templates": ["7\\d{5}4\\d{4}", "(unclosed"]}, "phone-templates[1]"),
    ({"phone-templates": ["(a+)+\\1"]}, "phone-templates[0]"),  # a backreference: RE2 refuses it
    ({"min-age": 30, "max-age": 20}, "max-age"),
    ({"min-age": -1}, "min-age"),
    ({"grace-min-days": 10, "grace-max-days": 5}, "grace-max-days"),
    ({"time-zone": "Mars/Olympus"}, "time-zone"),
    ({"calling-hours": {"from": "21:00", "to": "09:00"}}, "calling-hours.to"),
    ({"calling-days": [8]}, "calling-days[0]"),
    ({"max-attempts": 0}, "max-attempts"),
    ({"recall-delay-minutes": {"busy": 0}}, "recall-delay-minutes.busy"),
    ({"citizenship-unavailable-countries": ["by"]}, "citizenship-unavailable-countries[0]"),
    ({"filters-order": ["AVAILABLE_PRODUCTS"]}, "available-products"),
    ({"result-taxonomy": [{"key": "A", "outcome": "SUCCESS"}, {"key": "A", "outcome": "REFUSAL"}]},
     "result-taxonomy[1]"),
    ({"result-taxonomy": [{"key": "A", "outcome": "MAYBE"}]}, "result-taxonomy[0].outcome"),
    ({"unknown-field": 1}, "unknown-field"),
])
async def test_a_bad_config_is_a_400_naming_the_field_and_stores_nothing(http, web, make_user, patch, field):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = await _campaign(http, web[0], admin)
    body = {"data-streams": [stream()], **patch}
    answer = await http.put(f"{web[0]}/api/admin/v1/campaigns/{campaign}/rules", json=body, headers=admin)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field, answer.text
    missing = await http.get(f"{web[0]}/api/admin/v1/campaigns/{campaign}/rules", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "RULES_NOT_SET"


async def test_the_seed_example_is_accepted_and_guards_hold(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    operator = bearer(await login(http, web[0], await make_user("operator")))
    campaign = await _campaign(http, web[0], admin)
    url = f"{web[0]}/api/admin/v1/campaigns/{campaign}/rules"
    seed = {"data-streams": ["MOBILE_LOANS"], "request-statuses": ["registered", "scored"],
            "filters-order": ["RESIDENCE", "AGE", "PHONE_BLACK_LIST", "ML_DEVICE", "ML_PHONE", "ML_FACE",
                              "ML_DOCUMENT"],
            "ml-skip-error": False, "citizenship-unavailable-countries": ["BLR", "UKR"], "min-age": 18,
            "phone-templates": ["7\\d{5}4\\d{4}", "7\\d{5}3\\d{4}"]}
    assert (await http.put(url, json=seed, headers=supervisor)).status_code == 403
    assert (await http.put(url, json=seed, headers=operator)).status_code == 403
    saved = await http.put(url, json=seed, headers=admin)
    assert saved.status_code == 200, saved.text
    data = saved.json()["data"]
    assert data["version"] == 1 and data["config"]["max-attempts"] == 3
    assert data["config"]["time-zone"] == "Europe/Moscow"
    current = await http.get(url, headers=supervisor)
    assert current.json()["data"]["config"]["filters-order"] == seed["filters-order"]
    assert (await http.get(url, headers=operator)).status_code == 403
    assert (await http.put(f"{web[0]}/api/admin/v1/campaigns/999999999/rules", json=seed,
                           headers=admin)).json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"


async def test_do_not_call_entries_and_csv_import(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    supervisor = bearer(await login(http, web[1], await make_user("supervisor")))
    url = f"{web[0]}/api/admin/v1/do-not-call"
    forever, later = phone(), phone()
    put = await http.post(url, json={"phone": forever, "reason": "жалоба"}, headers=admin)
    assert put.status_code == 200 and put.json()["data"]["permanent"] is True
    assert (await http.post(url, json={"phone": forever, "reason": "x"}, headers=supervisor)).status_code == 403
    # a temporary entry never shortens a permanent one
    await http.post(url, json={"phone": forever, "reason": "again", "until": "2030-01-01T00:00:00Z"}, headers=admin)
    found = await http.post(f"{web[1]}/api/admin/v1/do-not-call/find", json={"phone": forever}, headers=supervisor)
    assert found.json()["data"]["permanent"] is True and found.json()["data"]["reason"] == "again"

    bad = f"phone,until,reason\n{later},2030-01-01T00:00:00+03:00,ok\n123,,short\n"
    refused = await http.post(f"{url}/import", json={"csv": bad}, headers=admin)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "DNC_CSV_INVALID"
    assert refused.json()["error"]["field"] == "phone" and refused.json()["error"]["data"] == {"line": 3}
    missing = await http.post(f"{web[1]}/api/admin/v1/do-not-call/find", json={"phone": later}, headers=supervisor)
    assert missing.status_code == 404  # nothing of the refused file was stored

    good = f"{later},2030-01-01T00:00:00+03:00,по просьбе\n{phone()},,\n"
    imported = await http.post(f"{url}/import", json={"csv": good}, headers=admin)
    assert imported.status_code == 200 and imported.json()["data"] == {"stored": 2}
    entry = (await http.post(f"{web[1]}/api/admin/v1/do-not-call/find", json={"phone": later},
                             headers=supervisor)).json()["data"]
    assert entry["permanent"] is False and entry["source"] == "CSV" and entry["reason"] == "по просьбе"
    assert (await http.post(f"{url}/delete", json={"phone": later}, headers=admin)).status_code == 200
    assert (await http.post(f"{url}/delete", json={"phone": later}, headers=admin)).status_code == 404


async def test_bookings(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    campaign = await _campaign(http, web[0], admin)
    url = f"{web[0]}/api/admin/v1/bookings"
    client = phone()
    put = await http.post(url, json={"phone": client, "campaignId": campaign, "until": "2031-06-02T00:00:00Z"},
                          headers=admin)
    assert put.status_code == 200 and put.json()["data"]["campaignId"] == campaign
    unknown = await http.post(url, json={"phone": client, "campaignId": 999999999, "until": "2031-06-02T00:00:00Z"},
                              headers=admin)
    assert unknown.status_code == 404
    no_zone = await http.post(url, json={"phone": client, "campaignId": campaign, "until": "2031-06-02T00:00:00"},
                              headers=admin)
    assert no_zone.status_code == 400 and no_zone.json()["error"]["field"] == "until"
    listed = await http.get(url, params={"limit": 1000}, headers=admin)
    assert client in [b["phone"] for b in listed.json()["data"]]
    assert (await http.post(f"{url}/delete", json={"phone": client}, headers=admin)).status_code == 200
