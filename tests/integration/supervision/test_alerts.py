"""Alerts appear with the moment their condition began, and clear when it ends (thresholds are settings)."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import FloorSocket


async def test_a_long_pause_and_rising_errors_raise_alerts_that_clear(http, db, make_user, start_web):
    settings = {"REDIS_KEY_PREFIX": unique("tmtest:alerts:") + ":", "SUPERVISOR_ALERT_LONG_PAUSE_SECONDS": "1",
                "SUPERVISOR_ALERT_ERRORS_PER_MINUTE": "3", "SUPERVISOR_CAMPAIGN_REFRESH_SECONDS": "0.5"}
    web = start_web(**settings)
    start_web(module="backend.worker", **settings)
    sup_token = await login(http, web.url, await make_user("supervisor"))
    floor = await FloorSocket.open(web.url, sup_token)
    op = await make_user("operator")
    op_headers = bearer(await login(http, web.url, op))
    paused = await http.post(f"{web.url}/api/arm/v1/setPause", headers=op_headers, json={"reason": "BREAK"})
    assert paused.status_code == 200
    key = f"LONG_PAUSE:{op.id}"
    alert = await floor.until(lambda f: f.alerts.get(key), timeout=10)
    since = floor.operator(op.id)["since"]
    assert alert["kind"] == "LONG_PAUSE" and alert["operatorName"] == "Тестов Тест" and alert["reason"] == "BREAK"
    assert alert["since"] == since + 1000  # the moment the pause became too long
    await http.post(f"{web.url}/api/arm/v1/setReady", headers=op_headers)
    await floor.until(lambda f: key not in f.alerts)
    assert floor.frames[-1]["data"]["alerts"][key] is None  # cleared by name, not by a full re-render

    marker = unique("alert-test-")
    await db.execute("INSERT INTO dead_letters (source, reason, payload) SELECT 'command', $1, '{}' "
                     "FROM generate_series(1, 3)", marker)
    rising = await floor.until(lambda f: f.alerts.get("ERRORS_RISING"), timeout=10)
    assert rising["count"] >= 3
    await db.execute("UPDATE dead_letters SET created_at = now() - interval '2 minutes' WHERE reason = $1", marker)
    await floor.until(lambda f: "ERRORS_RISING" not in f.alerts, timeout=10)
    await floor.close()
    await asyncio.sleep(0)
