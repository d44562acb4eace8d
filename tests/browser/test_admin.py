"""What an admin does on the admin page in a real browser: create a user, lock them (their session ends at
once), see both in the audit log and export it; edit the role permission matrix; RU/EN; fits 1366×768."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.conftest import bearer, login
from tests.harness import unique


async def sign_in_admin(page: Page, base: str, user) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Логин").fill(user.login)
    await page.get_by_label("Пароль").fill(user.password)
    await page.get_by_role("button", name="Войти").click()
    await page.wait_for_url("**/admin.html")


async def no_horizontal_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_an_admin_creates_a_user_locks_them_and_sees_it_in_the_audit_log(page, web, make_user, http):
    admin = await make_user("admin")
    await sign_in_admin(page, web[0], admin)
    team_name = unique("Команда ")
    await page.get_by_role("tab", name="Команды").click()
    await page.locator("#t-name").fill(team_name)
    await page.locator("#t-save").click()
    await expect(page.locator("#teams-body")).to_contain_text(team_name)

    await page.get_by_role("tab", name="Пользователи").click()
    login_name = unique("new_")
    await page.locator("#u-login").fill(login_name)
    await page.locator("#u-password").fill("long-enough-pw")
    await page.locator("#u-first").fill("Ольга")
    await page.locator("#u-last").fill("Смирнова")
    await page.locator("#u-team").select_option(label=team_name)
    await page.locator("#u-save").click()
    await expect(page.locator("#status-message")).to_have_text(f"Пользователь {login_name} создан")
    row = page.locator("#users-body tr", has_text=login_name)
    await expect(row).to_contain_text(team_name)
    await expect(row.locator(".col-state")).to_have_text("активен")
    await no_horizontal_scroll(page)
    await screenshot(page, "admin-users")

    # The new user logs in; locking them ends that session at once.
    user_token = (await http.post(f"{web[1]}/api/arm/v1/login",
                                  json={"login": login_name, "password": "long-enough-pw"})).json()["data"]["token"]
    await expect(row.locator(".col-sessions")).to_have_text("0")  # the table is as of its load
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Заблокировать").click()
    await expect(page.locator("#status-message")).to_contain_text("заблокирован")
    await expect(row.locator(".col-state")).to_have_text("заблокирован")
    assert (await http.get(f"{web[1]}/api/arm/v1/me", headers=bearer(user_token))).status_code == 401

    # Unlock, edit (a new surname, another role), reset the password: the table follows each answer.
    await row.get_by_role("button", name="Разблокировать").click()
    await expect(row.locator(".col-state")).to_have_text("активен")
    await row.get_by_role("button", name="Изменить").click()
    await expect(page.locator("#user-form-title")).to_have_text(f"Изменить пользователя {login_name}")
    await page.locator("#u-last").fill("Кузнецова")
    await page.locator("#u-role").select_option("supervisor")
    await page.locator("#u-save").click()
    await expect(row).to_contain_text("Ольга Кузнецова")
    await expect(row).to_contain_text("Супервизор")
    await row.get_by_role("button", name="Сменить пароль").click()
    await page.locator("#pw-input").fill("changed-password")
    await page.locator("#pw-save").click()
    await expect(page.locator("#status-message")).to_have_text(f"Пароль {login_name} изменён, его сеансы завершены")
    relog = await http.post(f"{web[1]}/api/arm/v1/login", json={"login": login_name, "password": "changed-password"})
    assert relog.status_code == 200 and relog.json()["data"]["role"] == "supervisor"

    # A refused action says why, in words.
    me_row = page.locator("#users-body tr", has_text=admin.login)
    page.once("dialog", lambda dialog: dialog.accept())
    await me_row.get_by_role("button", name="Заблокировать").click()
    await expect(page.locator("#status-message")).to_have_text("Нельзя заблокировать собственную учётную запись.")

    await page.get_by_role("tab", name="Журнал действий").click()
    await page.locator("#f-actor").select_option(label=admin.login)
    await page.locator("#audit-search").click()
    rows = page.locator("#audit-body tr")
    actions = ["operator.password", "operator.update", "operator.unlock", "operator.lock", "operator.create",
               "team.create"]
    await expect(rows.locator(".col-action")).to_have_text(actions)
    lock_row = rows.nth(3)
    await expect(lock_row).to_contain_text('"locked":false')  # before
    await expect(lock_row).to_contain_text('"locked":true')  # after
    await expect(lock_row).to_contain_text("127.0.0.1")
    await no_horizontal_scroll(page)
    await screenshot(page, "admin-audit")
    async with page.expect_download() as download_info:
        await page.locator("#audit-export").click()
    download = await download_info.value
    content = open(await download.path(), "rb").read()
    assert content.startswith(b"\xef\xbb\xbf") and b"operator.lock" in content and login_name.encode() in content

    await page.locator("#lang-toggle").click()
    await expect(page.get_by_role("tab", name="Audit log")).to_be_visible()
    await expect(page.locator("#audit-search")).to_have_text("Show")


async def test_the_permission_matrix_changes_what_a_role_may_do(page, web, make_user, http):
    admin = await make_user("admin")
    await sign_in_admin(page, web[0], admin)
    analyst = bearer(await login(http, web[1], await make_user("analyst")))
    audit = f"{web[1]}/api/admin/v1/audit"
    assert (await http.get(audit, headers=analyst)).status_code == 403
    await page.get_by_role("tab", name="Права ролей").click()
    box = page.locator('#permissions-body input[data-role="analyst"][data-permission="audit.view"]')
    protected = page.locator('#permissions-body input[data-role="admin"][data-permission="permissions.manage"]')
    await expect(protected).to_be_disabled()
    await expect(protected).to_be_checked()
    await no_horizontal_scroll(page)
    await screenshot(page, "admin-permissions")
    saved = lambda r: r.url.endswith("/api/admin/v1/permissions/analyst") and r.request.method == "PUT"  # noqa: E731
    try:
        await box.check()
        async with page.expect_response(saved):
            await page.locator("#perm-save").click()
        await expect(page.locator("#status-message")).to_have_text("Права сохранены")
        assert (await http.get(audit, headers=analyst)).status_code == 200
    finally:
        await box.uncheck()
        async with page.expect_response(saved):
            await page.locator("#perm-save").click()
    assert (await http.get(audit, headers=analyst)).status_code == 403
    await expect(page.locator("#perm-save")).to_be_in_viewport()
    assert re.search(r"/admin\.html$", page.url)
