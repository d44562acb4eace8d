"""What an operator sees and does, in a real browser."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task

EXPIRED = "Результат разговора по предыдущему клиенту не сохранен. Карточка вернется на доработку."


async def sign_in(page: Page, base: str, user) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Логин").fill(user.login)
    await page.get_by_label("Пароль").fill(user.password)
    await page.get_by_role("button", name="Войти").click()
    await expect(page.locator("#connection")).to_have_text("Подключено")


async def test_login_messages_and_main_screen(page, web, make_user, db):
    op = await make_user("operator")
    await page.goto(web[0] + "/")
    await expect(page.get_by_role("heading", name="Вход в систему")).to_be_visible()
    await screenshot(page, "01-login")
    await page.get_by_label("Логин").fill(op.login)
    await page.get_by_label("Пароль").fill("wrong-password")
    await page.keyboard.press("Enter")  # keyboard alone
    await expect(page.locator("#login-message")).to_have_text("Неверный логин или пароль")
    await screenshot(page, "02-login-error")
    locked = await make_user("operator", locked=True)
    await page.get_by_label("Логин").fill(locked.login)
    await page.get_by_label("Пароль").fill(locked.password)
    await page.get_by_role("button", name="Войти").click()
    await expect(page.locator("#login-message")).to_contain_text("заблокирована")

    await sign_in(page, web[0], op)
    await expect(page.locator("#operator-name")).to_have_text("Тест Тестов")
    await expect(page.get_by_role("heading", name="Карточки на доработку")).to_be_visible()
    await page.get_by_role("button", name="EN").click()
    await expect(page.get_by_role("heading", name="Cards to rework")).to_be_visible()
    await expect(page.locator("#connection")).to_have_text("Connected")
    await page.get_by_role("button", name="RU").click()
    await screenshot(page, "03-main")


async def test_card_arrives_and_result_is_saved_in_the_window(page, web, make_user, db, http):
    op = await make_user("operator")
    await sign_in(page, web[1], op)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    card = page.locator("#card")
    await expect(card).to_be_visible()
    await expect(page.locator("#client-name-ru")).to_have_text("Ибрагимова Шахноза Рустамовна")
    await expect(page.locator("#client-name-en")).to_have_text("Ibragimova Shakhnoza")
    await expect(page.locator("#client-citizenship")).to_have_text("Узбекистан")
    masked = f"+7 (***) ***-{task['phone'][7:9]}-{task['phone'][9:]}"
    await expect(page.locator("#client-phone")).to_have_text(masked)
    await expect(page.locator("#client-campaign")).to_have_text(task["campaign"])
    await expect(page.locator("#campaign-script")).to_have_text("Предложите завершить заявку")
    row = page.locator("#products tbody tr").first
    await expect(row).to_contain_text("34697463")
    await expect(row).to_contain_text("25 000,00 ₽")
    await expect(row).to_contain_text("Скоринг пройден")
    await expect(page.locator("#products tbody tr").nth(1)).to_have_text(
        "Документы: Селфи/ДУЛ: ошибка — Плохое качество (Дождитесь фокусировки камеры)")  # no raw status code
    await expect(page.locator("#countdown")).to_have_text("Идёт разговор")
    await screenshot(page, "04-card")

    await push(http, web[0], event("CALL_ENDED", op.id, task, call))
    await expect(page.locator("#countdown")).to_contain_text("Осталось на сохранение: 0:5")
    await page.get_by_label("Результат", exact=True).select_option("Согласен")
    await page.get_by_label("Комментарий").fill("Клиент завершит заявку сегодня")
    await expect(page.locator("#draft-state")).to_contain_text("Черновик сохранён")
    await screenshot(page, "05-result-block")
    await page.reload()  # a reload inside the window keeps the card, the countdown and the draft
    await expect(page.locator("#countdown")).to_contain_text("Осталось на сохранение: 0:5")
    await expect(page.get_by_label("Комментарий")).to_have_value("Клиент завершит заявку сегодня")
    await expect(page.get_by_label("Результат", exact=True)).to_have_value("Согласен")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.locator("#status-message")).to_have_text("Результат сохранен")
    await expect(card).to_be_hidden()
    await screenshot(page, "06-saved")
    row = await db.fetchrow("SELECT state, completed_late, result_details FROM communications WHERE call_id = $1", call)
    assert row["state"] == "FIXED" and row["completed_late"] is False
    assert json.loads(row["result_details"]) == {"result": "Согласен", "comment": "Клиент завершит заявку сегодня"}


async def test_window_expires_then_the_card_is_completed_from_rework(page, web, make_user, db, http, start_web):
    short = start_web(RESULT_WINDOW_SECONDS="3")
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, short.url, event("CALL_STARTED", op.id, task, call))
    await expect(page.locator("#card")).to_be_visible()
    await page.get_by_label("Комментарий").fill("Просит перезвонить после обеда")
    await expect(page.locator("#draft-state")).to_contain_text("Черновик сохранён")
    await push(http, short.url, event("CALL_ENDED", op.id, task, call))
    await expect(page.locator("#countdown")).to_contain_text("Осталось на сохранение")
    await expect(page.locator("#status-message")).to_have_text(EXPIRED, timeout=10_000)
    await expect(page.locator("#card")).to_be_hidden()
    rework_row = page.locator("#rework tbody tr").first
    await expect(rework_row).to_contain_text("Не сохранен")
    await expect(rework_row).to_contain_text(f"+7 (***) ***-{task['phone'][7:9]}-{task['phone'][9:]}")
    await screenshot(page, "07-expired-rework")

    await rework_row.get_by_role("button").click()
    await expect(page.locator("#card")).to_be_visible()
    await expect(page.get_by_label("Комментарий")).to_have_value("Просит перезвонить после обеда")
    await expect(page.locator("#countdown")).to_have_text("Доработка карточки")
    await page.get_by_label("Результат", exact=True).select_option("Перезвонить")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.locator("#status-message")).to_have_text("Результат сохранен")
    await expect(page.locator("#rework-empty")).to_be_visible()
    await screenshot(page, "08-rework-completed")
    row = await db.fetchrow("SELECT state, completed_late FROM communications WHERE call_id = $1", call)
    assert (row["state"], row["completed_late"]) == ("FIXED", True)


async def test_reconnect_during_a_call_loses_nothing(page, web, make_user, db, http, start_web):
    own = start_web()
    op = await make_user("operator")
    await sign_in(page, own.url, op)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, web[0], event("CALL_STARTED", op.id, task, call))
    await expect(page.locator("#card")).to_be_visible()
    await page.get_by_label("Комментарий").fill("слова, которые нельзя потерять")
    await expect(page.locator("#draft-state")).to_contain_text("Черновик сохранён")

    port = own.port
    own.kill()  # the browser's server dies mid-call
    await expect(page.locator("#connection")).to_have_text("Переподключение…")
    await screenshot(page, "09-reconnecting")
    await push(http, web[1], event("CALL_ENDED", op.id, task, call))  # happens while disconnected
    start_web(port=port)
    await expect(page.locator("#connection")).to_have_text("Синхронизировано", timeout=15_000)  # back, caught up
    await expect(page.locator("#countdown")).to_contain_text("Осталось на сохранение")  # the missed event
    await expect(page.locator("#last-event")).to_contain_text("последнее событие")
    await expect(page.get_by_label("Комментарий")).to_have_value("слова, которые нельзя потерять")
    await page.get_by_label("Результат", exact=True).select_option("Согласен")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.locator("#status-message")).to_have_text("Результат сохранен")
    await screenshot(page, "10-after-reconnect")


async def test_logout_and_session_ended_elsewhere(page, web, make_user, http):
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    await page.get_by_role("button", name="Выйти").click()
    await expect(page.get_by_role("heading", name="Вход в систему")).to_be_visible()

    await sign_in(page, web[0], op)
    token = await page.evaluate("sessionStorage.getItem('tm.token')")
    await http.post(f"{web[1]}/api/security/v1/logout", json={"token": token})  # e.g. another window
    await expect(page.locator("#login-message")).to_contain_text("Сеанс завершён")
    await screenshot(page, "11-session-ended")
    await asyncio.sleep(0)


async def test_ready_and_pause_control(page, web, make_user, db, http):
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    state = page.locator("#presence-state")
    await expect(state).to_have_text("Готов к звонкам")
    ready = page.get_by_role("button", name="Готов", exact=True)
    await expect(ready).to_be_hidden()
    await page.get_by_role("button", name="Пауза", exact=True).click()  # no reason chosen yet
    await expect(page.locator("#status-message")).to_have_text("Выберите причину паузы")
    await page.get_by_label("Причина паузы").select_option("TRAINING")
    await page.get_by_role("button", name="Пауза", exact=True).click()
    await expect(state).to_have_text("Пауза: обучение")
    await expect(ready).to_be_visible()
    await expect(page.locator("#status-message")).to_be_hidden()
    row = await db.fetchrow("SELECT state, reason FROM operator_states WHERE operator_id = $1", op.id)
    assert (row["state"], row["reason"]) == ("PAUSED", "TRAINING")
    await screenshot(page, "12-paused")
    await page.get_by_role("button", name="EN").click()
    await expect(state).to_have_text("Paused: training")
    await page.get_by_role("button", name="RU").click()

    # A change made elsewhere (another tab, or AWAY decided by the server) arrives pushed.
    token = await page.evaluate("sessionStorage.getItem('tm.token')")
    await http.post(f"{web[1]}/api/arm/v1/setPause", json={"reason": "BREAK"},
                    headers={"Authorization": f"Bearer {token}"})
    await expect(state).to_have_text("Пауза: перерыв")
    await ready.click()
    await expect(state).to_have_text("Готов к звонкам")
    await expect(ready).to_be_hidden()
    assert await db.fetchval("SELECT state FROM operator_states WHERE operator_id = $1", op.id) == "READY"
