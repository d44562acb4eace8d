"""The filter cascade over done imports: every internal filter passes and rejects, in the configured order,
the first failure stops the lead, every path is recorded and counted, passing leads enter the campaign (re-entry
cancels the open task), do-not-call and bookings skip, and a rules change affects new leads only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from backend.rules import queries
from tests.conftest import bearer, login
from tests.integration.rules.helpers import Driver, make_campaign, make_import, phone, stream

ALL_INTERNAL = ["REQUEST_STATUS", "RESIDENCE", "AGE", "PHONE_TEMPLATE", "GRACE", "CLIENT_TYPE", "DO_NOT_CALL",
                "BOOKED"]


def config(streams: list[str], **extra):
    base = {"data-streams": streams, "request-statuses": ["registered", "scored"], "filters-order": ALL_INTERNAL,
            "citizenship-unavailable-countries": ["BLR", "UKR"], "min-age": 18, "max-age": 70,
            "phone-templates": [r"7\d{5}4\d{4}", r"7\d{5}3\d{4}"], "grace-min-days": 5, "grace-max-days": 60,
            "client-types": ["pioneer"], "calling-hours": {"from": "00:00", "to": "23:59"}}
    base.update(extra)
    return base


def years_ago(n: int) -> date:
    today = datetime.now(UTC).date()
    return today.replace(year=today.year - n) - timedelta(days=2)


async def test_each_internal_filter_passes_and_rejects_and_every_path_is_recorded(services):
    s = stream()
    driver = await Driver.start(services, [s])
    try:
        campaign, version = await make_campaign(driver.pool, config([s]))
        other, _ = await make_campaign(driver.pool, config(["OTHER_STREAM"]))
        dnc_phone, booked_phone = phone(), phone()
        await queries.put_dnc(driver.pool, dnc_phone, None, "asked", "ADMIN", None)
        await queries.put_booking(driver.pool, booked_phone, other, datetime.now(UTC) + timedelta(days=3), None, None)
        leads = [
            {},  # passes
            {"application_status": "created"},
            {"citizenship": "UKR"},
            {"birth_date": years_ago(16)},
            {"birth_date": years_ago(75)},
            {"phone": "79991214567"},  # 7th digit 1: no template
            {"grace": 3},
            {"grace": 3, "grace_unit": "month"},  # 90 days: out of range
            {"client_type": "repeater"},
            {"phone": dnc_phone},
            {"phone": booked_phone},
            {"citizenship": None, "grace": 2, "grace_unit": "month", "application_status": "scored"},  # 60: passes
        ]
        import_id = await make_import(driver.pool, s, leads)
        assert await driver.cascade.tick() == len(leads)
        paths = await driver.paths(import_id, campaign)
        got = [(p["outcome"], p["filter"], p["reason"], p["value"]) for p in paths]
        assert got == [
            ("PASSED", None, None, None),
            ("REJECTED", "REQUEST_STATUS", "STATUS_NOT_ACCEPTED", "created"),
            ("REJECTED", "RESIDENCE", "COUNTRY_UNAVAILABLE", "UKR"),
            ("REJECTED", "AGE", "TOO_YOUNG", "16"),
            ("REJECTED", "AGE", "TOO_OLD", "75"),
            ("REJECTED", "PHONE_TEMPLATE", "NO_TEMPLATE_MATCH", None),
            ("REJECTED", "GRACE", "GRACE_OUT_OF_RANGE", "3"),
            ("REJECTED", "GRACE", "GRACE_OUT_OF_RANGE", "90"),
            ("REJECTED", "CLIENT_TYPE", "CLIENT_TYPE_NOT_ACCEPTED", "repeater"),
            ("REJECTED", "DO_NOT_CALL", "DO_NOT_CALL", "asked"),
            ("REJECTED", "BOOKED", "BOOKED", str(other)),
            ("PASSED", None, None, None),
        ]
        passed = [p for p in paths if p["outcome"] == "PASSED"]
        assert all(p["task_state"] == "NEW" and p["task_version"] == version for p in passed)
        assert passed[0]["client_info"]["applicationId"] == str(passed[0]["application_no"])
        assert passed[0]["client_info"]["firstName"] == "Иван"
        counts = {(r["filter"], r["outcome"]): r["n"] for r in await queries.counts(driver.pool, campaign, import_id)}
        assert counts[("PASSED", "PASSED")] == 2 and counts[("AGE", "REJECTED")] == 2
        assert counts[("GRACE", "REJECTED")] == 2 and counts[("BOOKED", "REJECTED")] == 1
        # exactly once: another pass finds nothing to do, and the campaign of another stream saw nothing
        assert await driver.cascade.tick() == 0
        assert await driver.paths(import_id, other) == []
        run = await driver.pool.fetchrow("SELECT * FROM cascade_runs WHERE import_id = $1", import_id)
        assert run["state"] == "done" and run["passed"] == 2 and run["rejected"] == 10
    finally:
        await driver.close()


async def test_the_configured_order_decides_which_filter_stops_a_lead(services):
    s = stream()
    driver = await Driver.start(services, [s])
    try:
        age_first, _ = await make_campaign(driver.pool, config([s], **{"filters-order": ["AGE", "RESIDENCE"]}))
        residence_first, _ = await make_campaign(driver.pool, config([s], **{"filters-order": ["RESIDENCE", "AGE"]}))
        import_id = await make_import(driver.pool, s, [{"citizenship": "BLR", "birth_date": years_ago(15)}])
        await driver.cascade.tick()
        assert [p["filter"] for p in await driver.paths(import_id, age_first)] == ["AGE"]
        assert [p["filter"] for p in await driver.paths(import_id, residence_first)] == ["RESIDENCE"]
    finally:
        await driver.close()


async def test_reentry_cancels_the_open_task_and_a_rules_change_affects_new_leads_only(services, web, http,
                                                                                       make_user):
    s = stream()
    driver = await Driver.start(services, [s])
    try:
        campaign, v1 = await make_campaign(driver.pool, config([s], **{"filters-order": ["AGE"]}))
        client = phone()
        first = await make_import(driver.pool, s, [{"phone": client, "birth_date": years_ago(30)}])
        await driver.cascade.tick()
        [old] = await driver.paths(first, campaign)
        assert old["task_state"] == "NEW" and old["task_version"] == v1

        admin = bearer(await login(http, web[0], await make_user("admin")))
        url = f"{web[0]}/api/admin/v1/campaigns/{campaign}/rules"
        changed = await http.put(url, json=config([s], **{"filters-order": ["AGE"], "min-age": 40}), headers=admin)
        assert changed.status_code == 200, changed.text
        v2 = changed.json()["data"]["id"]
        assert changed.json()["data"]["version"] == 2

        second = await make_import(driver.pool, s, [{"phone": client, "birth_date": years_ago(50)},
                                                     {"birth_date": years_ago(30)}])
        await driver.cascade.tick()
        again, young = await driver.paths(second, campaign)
        assert again["outcome"] == "PASSED" and again["task_version"] == v2
        assert young["outcome"] == "REJECTED" and young["filter"] == "AGE"  # the new rule, for the new leads
        # the earlier task (decided under version 1) was cancelled by the re-entry, not re-decided
        state = await driver.pool.fetchrow("SELECT task_state, close_reason, rules_version_id FROM campaign_tasks "
                                           "WHERE id = $1", old["campaign_task_id"])
        assert dict(state) == {"task_state": "DONE", "close_reason": "REENTERED", "rules_version_id": v1}

        supervisor = bearer(await login(http, web[1], await make_user("supervisor")))
        versions = await http.get(f"{url}/versions", headers=supervisor)
        assert [v["version"] for v in versions.json()["data"]] == [2, 1]
        assert [v["config"]["min-age"] for v in versions.json()["data"]] == [40, 18]
        counts = await http.get(f"{web[1]}/api/admin/v1/campaigns/{campaign}/cascade/counts",
                                params={"importId": second}, headers=supervisor)
        assert counts.json()["data"] == [{"importId": second,
                                          "filters": {"AGE": {"REJECTED": 1}, "PASSED": {"PASSED": 1}}}]
        paths = await http.get(f"{web[1]}/api/admin/v1/campaigns/{campaign}/cascade/paths",
                               params={"importId": second, "outcome": "REJECTED"}, headers=supervisor)
        assert [(p["filter"], p["reason"]) for p in paths.json()["data"]] == [("AGE", "TOO_YOUNG")]
        runs = await http.get(f"{web[1]}/api/admin/v1/campaigns/{campaign}/cascade/runs", headers=supervisor)
        assert {r["importId"]: r["state"] for r in runs.json()["data"]} == {first: "done", second: "done"}
    finally:
        await driver.close()
