"""The reports page in a real browser: analysts land on it after login; filters, totals, the KPI table, the three
charts, the CSV download (BOM, `;`), RU/EN, and 1366×768 without horizontal scrolling. And the operator's own
statistics panel on the workstation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from backend.core.db import create_pool
from backend.reports.aggregator import refresh
from tests.browser.conftest import screenshot
from tests.integration.reports.helpers import MSK, Call, call, campaign, task
from tests.integration.rules.helpers import settings_for


@pytest.fixture(scope="module")
async def pool(services) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(settings_for(services))
    yield opened
    await opened.close()


async def sign_in(page: Page, base: str, user) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Логин").fill(user.login)
    await page.get_by_label("Пароль").fill(user.password)
    await page.get_by_role("button", name="Войти").click()


async def test_an_analyst_reads_reports_and_downloads_csv(page, web, make_user, pool, tmp_path: Path):
    op = await make_user("operator")
    cid = await campaign(pool)
    now = datetime.now(UTC) - timedelta(minutes=2)
    for i, outcome in enumerate(("SUCCESS", "SUCCESS", "REFUSAL", "NO_ANSWER")):
        t, _ = await task(pool, cid, segment="pioneer")
        await call(pool, Call(op.id, t, now - timedelta(seconds=i), 100, saved_after=20, result="R", outcome=outcome))
    await refresh(pool, margin_seconds=60)
    day = datetime.now(MSK).date().isoformat()

    await sign_in(page, web[0], await make_user("analyst"))
    await page.wait_for_url("**/reports.html")  # analysts are sent to their page
    await expect(page.locator("#floor-link")).to_be_hidden()
    await page.locator("#f-from").fill(day)
    await page.locator("#f-to").fill(day)
    await page.locator("#f-campaign").select_option(str(cid))
    await page.get_by_role("button", name="Показать").click()
    await expect(page.locator("#total-calls")).to_have_text("4")
    await expect(page.locator("#total-conversion")).to_have_text("66,7\u00a0%")  # 2 successes of 3 contacts
    await expect(page.locator("#kpi-table tbody tr")).to_have_count(1)
    await expect(page.locator("#chart-hours rect.bar")).to_have_count(24)
    await expect(page.locator("#chart-outcomes rect")).to_have_count(3)
    await expect(page.locator("#heatmap rect[data-weekday]")).to_have_count(7 * 24)
    await expect(page.locator("#h-segment option[value='pioneer']")).to_have_count(1)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366
    await screenshot(page, "reports-1366")

    async with page.expect_download() as info:
        await page.get_by_role("button", name="Скачать CSV").click()
    saved = tmp_path / "kpis.csv"
    await (await info.value).save_as(saved)
    content = saved.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and b"key;label;calls;" in content

    await page.locator("#lang-toggle").click()
    await expect(page.locator("h1")).to_contain_text("Reports")
    await expect(page.get_by_role("button", name="Show")).to_be_visible()
    await expect(page.locator("#kpi-table thead")).to_contain_text("Conversion")


async def test_a_supervisor_has_a_link_to_reports(page, web, make_user):
    await sign_in(page, web[0], await make_user("supervisor"))
    await page.wait_for_url("**/supervisor.html")
    await page.get_by_role("link", name="Отчёты").click()
    await page.wait_for_url("**/reports.html")
    await expect(page.locator("#floor-link")).to_be_visible()


async def test_an_operator_sees_own_statistics_on_the_workstation(page, web, make_user, pool):
    op = await make_user("operator")
    cid = await campaign(pool)
    for _ in range(3):
        t, _ = await task(pool, cid)
        await call(pool, Call(op.id, t, datetime.now(UTC) - timedelta(minutes=1), 75, saved_after=10,
                              outcome="SUCCESS"))
    await sign_in(page, web[0], op)
    panel = page.locator("#my-stats")
    await expect(panel).to_be_visible()
    await expect(page.locator("#my-calls-today")).to_have_text("3")
    await expect(page.locator("#my-talk-today")).to_have_text("1:15")
    await expect(page.locator("#my-window-today")).to_have_text("100\u00a0%")
    await expect(page.locator("#my-rework")).to_have_text("На доработке: 0")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
    await page.locator("#lang-toggle").click()
    await expect(page.locator("#my-stats-title")).to_have_text("My statistics")
    await expect(page.locator("#my-rework")).to_have_text("Rework pending: 0")
