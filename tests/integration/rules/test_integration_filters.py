"""The integration filters against the services' simulator (real HTTP): each passes and rejects; an ML error
passes or rejects as ml-skip-error says; a transient failure is retried inside the batch; a service that keeps
failing (5xx, timeouts, its breaker open) holds the batch back — nothing written, the run waits and tries
again — and only the last try records those leads as ERROR paths."""

from __future__ import annotations

import asyncio

from tests.integration.rules.helpers import Driver, make_campaign, make_import, phone, stream

INTEGRATION = ["PHONE_BLACK_LIST", "ML_DEVICE", "ML_PHONE", "ML_FACE", "ML_DOCUMENT", "AVAILABLE_PRODUCTS",
               "CLIENT_DATA"]
FAST = {"INTEGRATION_TIMEOUT_SECONDS": "0.5", "INTEGRATION_ATTEMPTS": "2", "INTEGRATION_BREAKER_FAILURES": "50"}


def rules(s: str, order: list[str], **extra):
    return {"data-streams": [s], "filters-order": order, "available-products": ["express"],
            "calling-hours": {"from": "00:00", "to": "23:59"}, **extra}


async def test_each_integration_filter_passes_and_rejects_in_order(services, integrations_sim):
    integrations_sim.reset()
    s = stream()
    driver = await Driver.start(services, [s], sim_url=integrations_sim.url, **FAST)
    try:
        campaign, _ = await make_campaign(driver.pool, rules(s, INTEGRATION))
        listed, enriched = phone(), phone()
        base = 900_000_000_000 + (int(stream()[2:10], 16) % 10**8) * 10
        apps = [base + n for n in range(7)]
        integrations_sim.verdicts(
            blacklist_phones=[listed],
            ml_reject={"DEVICE": [apps[2]], "PHONE": [apps[3]], "FACE": [apps[4]], "DOCUMENT": [apps[5]]},
            products={"pioneer": ["express", "consumer"], "repeater": ["consumer"]},
            client_data={enriched: {"timeZone": "Asia/Yekaterinburg", "segment": "gold"}})
        leads = [{"application_no": apps[0], "phone": enriched}, {"application_no": apps[1], "phone": listed},
                 {"application_no": apps[2]}, {"application_no": apps[3]}, {"application_no": apps[4]},
                 {"application_no": apps[5]}, {"application_no": apps[6], "client_type": "repeater"}]
        import_id = await make_import(driver.pool, s, leads)
        await driver.cascade.tick()
        paths = await driver.paths(import_id, campaign)
        assert [(p["outcome"], p["filter"], p["reason"]) for p in paths] == [
            ("PASSED", None, None),
            ("REJECTED", "PHONE_BLACK_LIST", "BLACK_LISTED"),
            ("REJECTED", "ML_DEVICE", "ML_SCORE_LOW"),
            ("REJECTED", "ML_PHONE", "ML_SCORE_LOW"),
            ("REJECTED", "ML_FACE", "ML_SCORE_LOW"),
            ("REJECTED", "ML_DOCUMENT", "ML_SCORE_LOW"),
            ("REJECTED", "AVAILABLE_PRODUCTS", "NO_PRODUCTS"),
        ]
        info = paths[0]["client_info"]
        assert info["timeZone"] == "Asia/Yekaterinburg" and info["clientData"]["segment"] == "gold"
        assert "express" in str(info["availableProducts"])
    finally:
        await driver.close()


async def test_ml_skip_error_decides_an_ml_failure_both_ways(services, integrations_sim):
    integrations_sim.reset()
    integrations_sim.faults("ml", status=503)
    s = stream()
    driver = await Driver.start(services, [s], sim_url=integrations_sim.url, **FAST)
    try:
        strict, _ = await make_campaign(driver.pool, rules(s, ["ML_FACE"], **{"ml-skip-error": False}))
        lenient, _ = await make_campaign(driver.pool, rules(s, ["ML_FACE"], **{"ml-skip-error": True}))
        import_id = await make_import(driver.pool, s, [{}, {}])
        await driver.cascade.tick()
        assert {(p["outcome"], p["filter"], p["reason"]) for p in await driver.paths(import_id, strict)} == {
            ("REJECTED", "ML_FACE", "ERROR:HTTP_503")}
        assert {p["outcome"] for p in await driver.paths(import_id, lenient)} == {"PASSED"}
    finally:
        integrations_sim.reset()
        await driver.close()


async def test_a_failing_service_holds_the_batch_back_until_it_answers(services, integrations_sim):
    integrations_sim.reset()
    s = stream()
    driver = await Driver.start(services, [s], sim_url=integrations_sim.url, **FAST)
    try:
        campaign, _ = await make_campaign(driver.pool, rules(s, ["PHONE_BLACK_LIST", "ML_PHONE"]))
        # one failed request is retried inside the batch: the leads are decided as if nothing happened
        integrations_sim.faults("blacklist", fail_next=1, error_status=502)
        first = await make_import(driver.pool, s, [{}, {}])
        await driver.cascade.tick()
        assert {p["outcome"] for p in await driver.paths(first, campaign)} == {"PASSED"}

        # down for good (5xx, then timeouts): nothing is written, the run waits with its reason
        integrations_sim.faults("blacklist", status=503)
        second = await make_import(driver.pool, s, [{}, {}, {}])
        await driver.cascade.tick()
        assert await driver.paths(second, campaign) == []
        run = await driver.pool.fetchrow("SELECT * FROM cascade_runs WHERE import_id = $1", second)
        assert run["state"] == "pending" and run["attempts"] == 1 and "PHONE_BLACK_LIST" in run["last_error"]
        assert "HTTP_503" in run["last_error"]
        integrations_sim.faults("blacklist", status=None, hang=True)
        await asyncio.sleep(0.2)
        await driver.cascade.tick()
        run = await driver.pool.fetchrow("SELECT * FROM cascade_runs WHERE import_id = $1", second)
        assert run["attempts"] == 2 and "TIMEOUT" in run["last_error"] and await driver.paths(second, campaign) == []

        # back: the held batch is decided, each lead once
        integrations_sim.reset()
        await asyncio.sleep(0.2)
        await driver.cascade.tick()
        paths = await driver.paths(second, campaign)
        assert [p["outcome"] for p in paths] == ["PASSED"] * 3
        assert await driver.pool.fetchval("SELECT state FROM cascade_runs WHERE import_id = $1", second) == "done"
    finally:
        integrations_sim.reset()
        await driver.close()


async def test_the_last_try_records_unanswered_leads_as_errors_and_an_open_breaker_says_so(services,
                                                                                        integrations_sim):
    integrations_sim.reset()
    integrations_sim.faults("products", status=500)
    s = stream()
    driver = await Driver.start(services, [s], sim_url=integrations_sim.url, CASCADE_MAX_ATTEMPTS="1",
                                **{**FAST, "INTEGRATION_BREAKER_FAILURES": "1", "INTEGRATION_BATCH_SIZE": "1"})
    try:
        campaign, _ = await make_campaign(driver.pool, rules(s, ["AVAILABLE_PRODUCTS", "AGE"]))
        import_id = await make_import(driver.pool, s, [{}, {}, {}])
        await driver.cascade.tick()
        paths = await driver.paths(import_id, campaign)
        assert [p["outcome"] for p in paths] == ["ERROR"] * 3 and {p["filter"] for p in paths} == {"AVAILABLE_PRODUCTS"}
        assert "CIRCUIT_OPEN" in {p["reason"] for p in paths}  # the breaker opened after the first failure
        run = await driver.pool.fetchrow("SELECT * FROM cascade_runs WHERE import_id = $1", import_id)
        assert run["state"] == "done" and run["errored"] == 3 and run["passed"] == 0
    finally:
        integrations_sim.reset()
        await driver.close()
