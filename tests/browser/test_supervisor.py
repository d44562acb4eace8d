"""What a supervisor sees, live, in a real browser; and who may not see it."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.supervision.helpers import into_rework
from tests.integration.workstation.helpers import event, push, seed_task

WITHIN = 1000  # ms: the floor is at most a second behind what happens


async def sign_in(page: Page, base: str, user) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Логин").fill(user.login)
    await page.get_by_label("Пароль").fill(user.password)
    await page.get_by_role("button", name="Войти").click()


async def open_floor(page: Page, base: str, user) -> None:
    await sign_in(page, base, user)
    await page.wait_for_url("**/supervisor.html")  # supervisors are sent to their page, not the operator's
    await expect(page.locator("#connection")).to_have_text("Подключено")


async def socket_close_code(page: Page, path: str) -> int:
    return await page.evaluate("""(path) => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}${path}`);
        const token = sessionStorage.getItem("tm.token");
        ws.onopen = () => ws.send(JSON.stringify({type: "HELLO", token, lastSeq: null}));
        ws.onclose = (event) => resolve(event.code);
    })""", path)


async def test_a_supervisor_follows_an_operator_through_a_call(page, web, make_user, db, http):
    for _ in range(40):  # a floor taller than the screen: the table scrolls, and only vertically
        await login(http, web[0], await make_user("operator"))
    await open_floor(page, web[0], await make_user("supervisor"))
    op = await make_user("operator")
    row = page.locator(f"#operators-body tr[data-operator-id='{op.id}']")
    state = row.locator(".col-state")

    token = await login(http, web[1], op)
    await expect(state).to_have_text("Готов", timeout=WITHIN)

    task = await seed_task(db)
    call = unique("call-")
    started = await push(http, web[1], event("CALL_STARTED", op.id, task, call))
    await expect(state).to_have_text("Разговор", timeout=WITHIN)
    await expect(row.locator(".col-campaign")).to_have_text(task["campaign"])
    await expect(row.locator(".col-calls")).to_have_text("1")
    await expect(row.locator(".col-pop")).to_have_text(re.compile(r"^\d+ ms$"))

    await push(http, web[1], event("CALL_ENDED", op.id, task, call))
    await expect(state).to_contain_text("Постобработка · ещё 0:5", timeout=WITHIN)
    first = await state.text_content()
    await expect(state).not_to_have_text(first or "", timeout=2500)  # the countdown runs
    await screenshot(page, "sup-01-wrap-up-1366")

    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": started.json()["data"]["communicationId"], "clientPhone": task["phone"],
        "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    await expect(state).to_have_text("Готов", timeout=WITHIN)
    await expect(row.locator(".col-inWindow")).to_have_text("100%")
    await expect(row.locator(".col-call")).to_have_text("—")

    # Filters hide rows in place; the page fits the screen without sideways scrolling.
    await page.locator("#filter-state").select_option("ON_CALL")
    await expect(row).to_be_hidden()
    await page.locator("#filter-state").select_option("")
    await expect(row).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Every column, the action included, is in view at 1366x768 (no sideways scrolling inside the table).
    assert await page.evaluate("""() => { const w = document.querySelector('.operators-scroll');
                                          return w.scrollWidth <= w.clientWidth; }""")
    await page.set_viewport_size({"width": 1920, "height": 1080})
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, "sup-02-floor-1920")
    await page.get_by_role("button", name="EN").click()
    await expect(state).to_have_text("Ready")
    await expect(page.locator("#connection")).to_have_text("Connected")
    await page.get_by_role("button", name="RU").click()


async def test_a_supervisor_filters_by_team_and_sees_an_operator_in_rework(page, web, make_user, db, http):
    teams = {}
    for label in ("Север", "Юг"):
        name = unique(f"{label} ")[:60]
        teams[label] = (await db.fetchval("INSERT INTO teams (name) VALUES ($1) RETURNING id", name), name)
    north, south = await make_user("operator"), await make_user("operator")
    for op, label in ((north, "Север"), (south, "Юг")):
        await db.execute("UPDATE operators SET team_id = $2 WHERE id = $1", op.id, teams[label][0])
    await open_floor(page, web[0], await make_user("supervisor"))
    token = await login(http, web[1], north)
    await login(http, web[1], south)
    north_row = page.locator(f"#operators-body tr[data-operator-id='{north.id}']")
    south_row = page.locator(f"#operators-body tr[data-operator-id='{south.id}']")
    await expect(north_row.locator(".col-team")).to_have_text(teams["Север"][1], timeout=WITHIN)
    await expect(south_row.locator(".col-team")).to_have_text(teams["Юг"][1], timeout=WITHIN)

    # The team filter offers the floor's teams and hides the other team's rows in place.
    await page.locator("#filter-team").select_option(str(teams["Север"][0]))
    await expect(south_row).to_be_hidden()
    await expect(north_row).to_be_visible()

    # The operator opens a card from their rework list: "in rework", within a second; a state filter follows.
    comm, task = await into_rework(http, web, db, north, token)
    await page.locator("#filter-state").select_option("IN_REWORK")
    await expect(north_row).to_be_hidden()
    opened = await http.post(f"{web[0]}/api/arm/v1/getClientCardByCommunicationId", headers=bearer(token),
                             json={"communicationId": comm})
    assert opened.status_code == 200
    await expect(north_row.locator(".col-state")).to_have_text("Доработка", timeout=WITHIN)
    await expect(north_row).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, "sup-05-team-rework")

    saved = await http.post(f"{web[0]}/api/arm/v1/saveCommunicationResult", headers=bearer(token), json={
        "communicationId": comm, "clientPhone": task["phone"], "communicationResult": {"result": "Согласен"}})
    assert saved.status_code == 200
    await expect(north_row).to_be_hidden(timeout=WITHIN)  # READY again: out of the IN_REWORK filter
    await page.locator("#filter-state").select_option("")
    await expect(north_row.locator(".col-state")).to_have_text("Готов")
    await page.locator("#filter-team").select_option("")
    await expect(south_row).to_be_visible()


async def test_a_campaigns_waiting_count_falls_as_its_tasks_are_dialled(page, web, make_user, db):
    campaign = await db.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("Очередь "))
    await db.execute(
        """INSERT INTO campaign_tasks (campaign_id, phone, task_time)
           SELECT $1, '7999' || lpad((random() * 1e7)::int::text, 7, '0'), now() + interval '1 hour'
             FROM generate_series(1, 5)""", campaign)
    await open_floor(page, web[1], await make_user("supervisor"))
    tile = page.locator(f".tile[data-campaign-id='{campaign}']")
    await expect(tile.locator("[data-field='waiting']")).to_have_text("5")
    await expect(tile.locator("[data-field='due']")).to_have_text("0")
    await expect(tile.locator("[data-field='importedToday']")).to_have_text("0")
    await expect(tile.locator("[data-field='recalls']")).to_have_text("0")
    await db.execute("UPDATE campaign_tasks SET task_time = now() WHERE campaign_id = $1", campaign)  # now due
    await expect(tile.locator("[data-field='waiting']")).to_have_text("0", timeout=3000)
    await expect(tile.locator("[data-field='dialling']")).to_have_text("5")
    await expect(tile.locator("[data-field='dialsPerMinute']")).to_have_text("0.5")  # 5 dials over 10 minutes
    await screenshot(page, "sup-03-campaign-dialled")


async def test_an_alert_appears_and_clears(page, make_user, http, start_web):
    settings = {"REDIS_KEY_PREFIX": unique("tmtest:supb:") + ":", "SUPERVISOR_ALERT_LONG_PAUSE_SECONDS": "2"}
    web = start_web(**settings)
    start_web(module="backend.worker", **settings)
    await open_floor(page, web.url, await make_user("supervisor"))
    op = await make_user("operator")
    headers = bearer(await login(http, web.url, op))
    await http.post(f"{web.url}/api/arm/v1/setPause", headers=headers, json={"reason": "BREAK"})
    alert = page.locator(f"#alerts-list li[data-alert-id='LONG_PAUSE:{op.id}']")
    await expect(alert).to_contain_text("Тестов Тест: Долгая пауза (перерыв) — с ", timeout=5000)
    await expect(page.locator("#alerts-count")).not_to_have_text("")
    await screenshot(page, "sup-04-alert")
    await http.post(f"{web.url}/api/arm/v1/setReady", headers=headers)
    await expect(alert).to_have_count(0, timeout=WITHIN + 500)

    # The supervisor's own action, from the page: pause with a reason; the row follows.
    row = page.locator(f"#operators-body tr[data-operator-id='{op.id}']")
    await row.locator("select").select_option("PAUSE:TRAINING")
    await expect(row.locator(".col-state")).to_have_text("Пауза (обучение)", timeout=WITHIN + 500)
    await expect(page.locator("#status-message")).to_contain_text("Готово")


async def test_roles_keep_to_their_own_channels(page, web, make_user):
    await open_floor(page, web[0], await make_user("supervisor"))
    assert await socket_close_code(page, "/api/arm/v1/ws") == 4403  # a supervisor is not an operator

    await page.get_by_role("button", name="Выйти").click()
    await page.wait_for_url(web[0] + "/")
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    await expect(page.locator("#connection")).to_have_text("Подключено")
    assert await socket_close_code(page, "/api/supervisor/v1/ws") == 4403
    status = await page.evaluate("""async () => (await fetch("/api/supervisor/v1/floor", {headers: {
        Authorization: `Bearer ${sessionStorage.getItem("tm.token")}`}})).status""")
    assert status == 403
    await page.goto(web[0] + "/supervisor.html")  # the page sends an operator back to their workstation
    await page.wait_for_url(web[0] + "/")
    await expect(page.locator("#operator-name")).to_have_text("Тест Тестов")
    await asyncio.sleep(0)
