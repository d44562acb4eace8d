"""The daily summary: built once per day (the day's unique key), saved and viewable, and mailed through a
real SMTP server (aiosmtpd); a failed send is recorded and retried, a sent one never sent again."""

from __future__ import annotations

import asyncio
import email
from datetime import date, datetime, time

import pytest
from aiosmtpd.controller import Controller

from backend.core.db import create_redis
from backend.reports.notify import SmtpNotifier, notifier_of
from backend.reports.summary import DailySummary
from tests.conftest import bearer, login
from tests.harness import free_port, unique
from tests.integration.reports.helpers import MSK, Call, call, campaign, local, task
from tests.integration.rules.helpers import settings_for

DAY = date(2025, 5, 20)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


async def test_summary_is_made_once_saved_and_mailed(http, web, pool, services, make_user, smtp):
    controller, inbox = smtp
    op = await make_user("operator")
    cid = await campaign(pool)
    for minute, outcome in ((0, "SUCCESS"), (10, "REFUSAL")):
        t, _ = await task(pool, cid)
        await call(pool, Call(op.id, t, local(f"2025-05-20 11:{minute:02d}:00"), 90, saved_after=20,
                              result="R", outcome=outcome))
    settings = settings_for(services, SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port),
                            SMTP_TO="boss@example.com,floor@example.com", SMTP_FROM="reports@example.com",
                            REPORTS_SUMMARY_AT="07:00",
                            REDIS_KEY_PREFIX=unique("tmsum:") + ":")  # not the shared worker's leader lock
    assert isinstance(notifier_of(settings), SmtpNotifier)
    redis = create_redis(settings)
    try:
        job = DailySummary(pool, redis, settings, notifier_of(settings))
        await job.tick(datetime.combine(date(2025, 5, 21), time(6, 59), MSK))  # before the hour: nothing
        assert await pool.fetchval("SELECT count(*) FROM daily_summaries WHERE day = $1", DAY) == 0
        await job.tick(datetime.combine(date(2025, 5, 21), time(7, 0), MSK))
        await job.tick(datetime.combine(date(2025, 5, 21), time(7, 1), MSK))  # again: nothing new
        second = DailySummary(pool, redis, settings, notifier_of(settings))  # another worker, had it the lock
        assert await second.make(DAY) is False
    finally:
        await redis.aclose()
    mails = [m for m in inbox.messages if str(DAY) in m["Subject"]]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["From"] == "reports@example.com" and "boss@example.com" in mail["To"]
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "Total: calls 2" in text and "conversion 50.0%" in text
    row = await pool.fetchrow("SELECT sent_at, attempts, payload FROM daily_summaries WHERE day = $1", DAY)
    assert row["sent_at"] is not None and row["attempts"] == 1
    assert row["payload"]["total"]["calls"] == 2

    token = await login(http, web[0], await make_user("analyst"))
    listed = await http.get(f"{web[0]}/api/reports/v1/daily-summaries", headers=bearer(token))
    assert any(s["day"] == str(DAY) and s["sentAt"] for s in listed.json()["data"])
    shown = await http.get(f"{web[0]}/api/reports/v1/daily-summaries/{DAY}", headers=bearer(token))
    assert shown.status_code == 200 and shown.json()["data"]["payload"]["total"]["successes"] == 1
    missing = await http.get(f"{web[0]}/api/reports/v1/daily-summaries/2001-01-01", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SUMMARY_NOT_FOUND"


async def test_a_failed_send_is_recorded_and_retried(pool, services, smtp):
    controller, inbox = smtp
    day = date(2025, 5, 25)
    down = settings_for(services, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_TO="boss@example.com",
                        SMTP_TIMEOUT_SECONDS="2")
    redis = create_redis(down)
    try:
        failing = DailySummary(pool, redis, down, notifier_of(down))
        assert await failing.make(day)
        await failing.send_pending()
        row = await pool.fetchrow("SELECT sent_at, attempts, last_error FROM daily_summaries WHERE day = $1", day)
        assert row["sent_at"] is None and row["attempts"] == 1 and "Error" in row["last_error"]
        up = settings_for(services, SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port), SMTP_TO="boss@example.com")
        await DailySummary(pool, redis, up, notifier_of(up)).send_pending()
        await asyncio.sleep(0)
    finally:
        await redis.aclose()
    assert [m for m in inbox.messages if str(day) in m["Subject"]]
    row = await pool.fetchrow("SELECT sent_at, attempts, last_error FROM daily_summaries WHERE day = $1", day)
    assert row["sent_at"] is not None and row["attempts"] == 2 and row["last_error"] is None


async def test_two_workers_sending_at_once_send_one_message(pool, services, smtp):
    controller, inbox = smtp
    day = date(2025, 5, 27)
    up = settings_for(services, SMTP_HOST="127.0.0.1", SMTP_PORT=str(controller.port), SMTP_TO="boss@example.com")
    redis = create_redis(up)
    try:
        first, second = (DailySummary(pool, redis, up, notifier_of(up)) for _ in range(2))
        assert await first.make(day)
        await asyncio.gather(first.send_pending(), second.send_pending())
    finally:
        await redis.aclose()
    assert len([m for m in inbox.messages if str(day) in m["Subject"]]) == 1
