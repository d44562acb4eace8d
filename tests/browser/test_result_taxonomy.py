"""The result form offers exactly the campaign's result taxonomy (status → level 1 → level 2), and the saved
choice moves the task on (here: a recall)."""

from __future__ import annotations

import msgspec
from playwright.async_api import expect

from backend.core.db import create_pool
from backend.rules import service
from backend.rules.config import RulesConfig
from tests.browser.test_workstation import sign_in
from tests.harness import unique
from tests.integration.rules.helpers import phone, settings_for
from tests.integration.workstation.helpers import event, push

TREE = [
    {"key": "REACHED", "label": "Дозвон", "outcome": "SUCCESS", "children": [
        {"key": "AGREED", "label": "Оформит заявку"},
        {"key": "REFUSED", "label": "Не планирует", "outcome": "REFUSAL",
         "children": [{"key": "OTHER_BANK", "label": "Ушёл в другой банк"}, {"key": "OTHER", "label": "Другое"}]}]},
    {"key": "NOT_REACHED", "label": "Недозвон", "outcome": "NO_ANSWER", "children": [
        {"key": "NO_PICKUP", "label": "Не берёт трубку"}, {"key": "BUSY", "label": "Занято", "outcome": "BUSY"}]},
]


async def test_the_form_offers_the_campaign_tree_and_the_result_schedules_a_recall(page, web, make_user, http,
                                                                                   services):
    pool = await create_pool(settings_for(services))
    try:
        campaign = await pool.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("tree "))
        version = await service.save_config(pool, campaign, msgspec.convert(
            {"data-streams": ["TREE"], "result-taxonomy": TREE, "max-attempts": 3,
             "calling-hours": {"from": "00:00", "to": "23:59"}}, RulesConfig), None)
        client = phone()
        task = await pool.fetchval(
            """INSERT INTO campaign_tasks (campaign_id, phone, rules_version_id, attempts, task_state, task_time)
               VALUES ($1, $2, $3, 1, 'IN_PROGRESS', now() + interval '1 day') RETURNING id""",
            campaign, client, version["id"])
        op = await make_user("operator")
        await sign_in(page, web[0], op)
        ref = {"task": task, "phone": client}
        call = unique("call-")
        await push(http, web[1], event("CALL_STARTED", op.id, ref, call))
        await expect(page.locator("#card")).to_be_visible()
        status = page.get_by_label("Результат", exact=True)
        await expect(status.locator("option")).to_have_text(["— выберите —", "Дозвон", "Недозвон"])
        await status.select_option("REACHED")
        reason = page.locator("#reason-select")
        await expect(reason.locator("option")).to_have_text(["— выберите —", "Оформит заявку", "Не планирует"])
        await reason.select_option("REFUSED")
        detail = page.locator("#detail-select")
        await expect(detail).to_be_visible()
        await expect(detail.locator("option")).to_have_text(["— выберите —", "Ушёл в другой банк", "Другое"])
        await status.select_option("NOT_REACHED")  # another status: its own first levels, no second level
        await expect(reason.locator("option")).to_have_text(["— выберите —", "Не берёт трубку", "Занято"])
        await expect(detail).to_be_hidden()
        await reason.select_option("BUSY")
        await push(http, web[1], event("CALL_ENDED", op.id, ref, call))
        await page.get_by_role("button", name="Сохранить").click()
        await expect(page.locator("#card")).to_be_hidden()
        row = await pool.fetchrow("SELECT task_state, last_outcome, task_time > now() AS later FROM campaign_tasks "
                                  "WHERE id = $1", task)
        assert dict(row) == {"task_state": "NEW", "last_outcome": "BUSY", "later": True}
        saved = await pool.fetchval("SELECT result_details FROM communications WHERE call_id = $1", call)
        assert saved == {"result": "NOT_REACHED", "reason": "BUSY"}
    finally:
        await pool.close()
