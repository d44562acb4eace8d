"""The interactive API docs render OpenAPI 3.1 in a real browser, offline, with no error — also under a
strict Content-Security-Policy (no inline script), which the page is built for."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.conftest import screenshot

STRICT_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("csp", [False, True], ids=["plain", "strict-csp"])
async def test_swagger_ui_renders_every_operation(page: Page, web, http, csp):
    spec = (await http.get(f"{web[0]}/schema/openapi.json")).json()
    operations = sum(1 for item in spec["paths"].values() for op in item.values() if isinstance(op, dict))
    server = urlsplit(web[0]).netloc
    foreign: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: foreign.append(r.url) if urlsplit(r.url).netloc not in (server, "") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    if csp:
        async def with_csp(route: Route) -> None:
            response = await route.fetch()
            await route.fulfill(response=response,
                                headers={**response.headers, "content-security-policy": STRICT_CSP})
        await page.route("**/*", with_csp)

    await page.goto(f"{web[0]}/schema/swagger")
    await expect(page.locator(".information-container .title")).to_contain_text("Telemarketing operator workstation")
    await expect(page.locator(".opblock")).to_have_count(operations)
    assert await page.locator(".errors-wrapper, .loading-container .errors").count() == 0
    await expect(page.locator(".version-stamp")).to_contain_text("OAS 3.1")
    # protected operations carry the lock; the public login does not
    login = page.locator(".opblock").filter(has_text="/api/security/v1/login")
    await expect(login.locator(".authorization__btn")).to_have_count(0)
    me = page.locator(".opblock").filter(has_text="/api/arm/v1/me")
    await expect(me.locator(".authorization__btn")).to_have_count(1)
    # an operation opens with its documented error body
    await page.locator(".opblock").filter(has_text="/api/admin/v1/campaigns/{campaign_id}/tasks").first.locator(
        ".opblock-summary").click()
    await expect(page.locator(".responses-table").first).to_contain_text("404")
    await screenshot(page, f"docs-swagger-{'csp' if csp else 'plain'}")
    assert foreign == [] and problems == []
