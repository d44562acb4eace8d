"""The page under the races of a real shift: a call that starts while the page is still loading its state,
and autosaves that fail, are retried, and cross a newer save or another tab's."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Page, Route, WebSocketRoute, expect

from tests.browser.conftest import screenshot
from tests.browser.test_workstation import sign_in
from tests.conftest import bearer, login
from tests.harness import unique
from tests.integration.workstation.helpers import event, push, seed_task

DRAFT = "**/api/arm/v1/saveCommunicationDraft"


async def _comment(db, call: str) -> str | None:
    return await db.fetchval("SELECT result_details->>'comment' FROM communications WHERE call_id = $1", call)


async def test_a_call_starting_while_the_page_connects_still_shows_its_card(page: Page, web, make_user, db, http):
    op = await make_user("operator")
    task = await seed_task(db)
    call = unique("call-")
    started: list[asyncio.Task[None]] = []

    def hold_hello(ws: WebSocketRoute) -> None:
        # The page has loaded what it loads and sent HELLO; the call starts (and commits) before HELLO arrives.
        server = ws.connect_to_server()

        async def start_call_then_hello(hello: str | bytes) -> None:
            r = await push(http, web[0], event("CALL_STARTED", op.id, task, call))
            assert r.status_code == 200, r.text
            server.send(hello)

        def to_server(message: str | bytes) -> None:
            if not started:
                started.append(asyncio.create_task(start_call_then_hello(message)))
            else:
                server.send(message)

        ws.on_message(to_server)

    await page.route_web_socket("**/api/arm/v1/ws", hold_hello)
    await sign_in(page, web[1], op)
    assert started
    await started[0]
    await expect(page.locator("#card")).to_be_visible()
    await expect(page.locator("#client-name-ru")).to_have_text("Ибрагимова Шахноза Рустамовна")
    await expect(page.locator("#countdown")).to_have_text("Идёт разговор")
    await page.get_by_label("Комментарий").fill("первые слова")
    await push(http, web[0], event("CALL_ENDED", op.id, task, call))  # the next event, once, after the snapshot
    await expect(page.locator("#countdown")).to_contain_text("Осталось на сохранение")
    await expect(page.get_by_label("Комментарий")).to_have_value("первые слова")


async def test_a_late_retry_of_older_words_never_overwrites_newer_ones(page: Page, web, make_user, db, http):
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    task = await seed_task(db)
    call = unique("call-")
    await push(http, web[1], event("CALL_STARTED", op.id, task, call))
    await expect(page.locator("#card")).to_be_visible()
    sent: list[dict] = []
    answers_lost = 1

    async def lose_the_first_answer(route: Route) -> None:
        nonlocal answers_lost
        sent.append(json.loads(route.request.post_data or "{}"))
        if answers_lost:
            answers_lost -= 1
            await route.fetch()  # the server saves it...
            await route.abort("connectionreset")  # ...and the answer is lost: the page will retry in 3 s
            return
        await route.continue_()

    await page.route(DRAFT, lose_the_first_answer)
    comment = page.get_by_label("Комментарий")
    await comment.fill("клиент занят")
    await expect(page.locator("#draft-state")).to_have_text("Черновик не сохранён, повторим")
    assert await _comment(db, call) == "клиент занят"
    await comment.fill("клиент занят, просит перезвонить завтра в 10")  # newer words, before the retry
    await asyncio.sleep(4.5)  # past the retry of the older words
    assert await _comment(db, call) == "клиент занят, просит перезвонить завтра в 10"
    await expect(comment).to_have_value("клиент занят, просит перезвонить завтра в 10")
    comments = [b["communicationResult"].get("comment") for b in sent]
    assert comments[-1] == "клиент занят, просит перезвонить завтра в 10", comments
    assert "клиент занят" not in comments[1:], comments  # the older words were not sent again
    await screenshot(page, "12-draft-retry")


async def test_a_draft_changed_elsewhere_keeps_the_operators_words(page: Page, web, make_user, db, http):
    op = await make_user("operator")
    await sign_in(page, web[0], op)
    task = await seed_task(db)
    call = unique("call-")
    started = await push(http, web[1], event("CALL_STARTED", op.id, task, call))
    comm_id = started.json()["data"]["communicationId"]
    await expect(page.locator("#card")).to_be_visible()
    comment = page.get_by_label("Комментарий")
    await comment.fill("первая мысль")
    await expect(page.locator("#draft-state")).to_contain_text("Черновик сохранён")

    # Another tab of the same operator saves over it from the version it saw.
    token = await login(http, web[0], op)
    card = (await http.get(f"{web[1]}/api/arm/v1/getClientCard", headers=bearer(token))).json()["data"]["clientCard"]
    version = card["currentCommunication"].get("draftVersion")
    other = await http.post(f"{web[1]}/api/arm/v1/saveCommunicationDraft", headers=bearer(token), json={
        "communicationId": comm_id, "clientPhone": task["phone"], "draftVersion": version,
        "communicationResult": {"comment": "из другой вкладки"}})
    assert other.status_code == 200, other.text

    await comment.fill("первая мысль, и вторая")  # the page's next save is from the older version
    await expect(page.locator("#draft-state")).to_contain_text("сохранён ваш текст")
    await expect(comment).to_have_value("первая мысль, и вторая")
    assert await _comment(db, call) == "первая мысль, и вторая"
    await screenshot(page, "13-draft-conflict")
